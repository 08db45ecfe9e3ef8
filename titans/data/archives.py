"""Pulling chosen members out of the archives the registries hand out: wheels, sdists and .deb files.

A member is named by its path inside the archive, with forward slashes and no leading ``./`` or ``/``
(so ``usr/lib/...`` for a .deb, ``pkg/data/x.txt`` for a wheel). For an sdist the top folder
(``name-version/``) is dropped, so the same path works whatever the archive was called. The final part
of the path may be a glob (``texts/*_gut.txt``); a glob never crosses a ``/``.

Only regular files are extracted, each straight into one destination folder under its own base name:
nothing is ever written at a path taken from the archive, so a hostile archive cannot escape it.
"""

from __future__ import annotations

import fnmatch
import io
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

_CHUNK = 1 << 20


def is_glob(pattern: str) -> bool:
    """True when ``pattern`` names several members (has ``*``, ``?`` or ``[``)."""
    return any(c in pattern for c in "*?[")


def normalize(name: str) -> str:
    """An archive path without ``./`` or ``/`` in front (tar files in .debs start with ``./``)."""
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def matches(pattern: str, name: str) -> bool:
    """Whether archive path ``name`` matches ``pattern`` part by part (``*`` stays inside one folder)."""
    want, have = normalize(pattern).split("/"), normalize(name).split("/")
    return len(want) == len(have) and all(fnmatch.fnmatchcase(h, w) for h, w in zip(have, want))


def archive_kind(path: Path) -> str:
    """``zip`` (wheels, .zip sdists), ``tar`` (.tar.gz and friends) or ``deb``, from the file name."""
    name = path.name.lower()
    if name.endswith((".whl", ".zip")):
        return "zip"
    if name.endswith(".deb"):
        return "deb"
    if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        return "tar"
    raise ValueError(f"{path}: unknown archive type (expected .whl, .zip, .tar.gz, .tar.bz2, .tar.xz or .deb)")


def extract_matching(archive: Path, pattern: str, dest: Path, *, strip_top: bool = False,
                     progress: str | None = None) -> list[Path]:
    """Copy every regular file of ``archive`` whose path matches ``pattern`` into ``dest``.

    strip_top: drop the archive's first path component before matching (sdists). progress: a label for
    a tqdm bar on stderr (shown only on a terminal). Returns the written files, sorted. Raises
    ValueError if two matches share a base name, since they would overwrite each other in ``dest``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    with _progress_bar(progress) as bar:
        for name, size, stream in _iter_files(archive):
            if strip_top:
                name = name.partition("/")[2]
            if not name or not matches(pattern, name):
                continue
            base = PurePosixPath(name).name
            if base in written:
                raise ValueError(f"{archive.name}: two members matching {pattern!r} are both called {base!r}")
            target = dest / base
            with open(target, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
            written[base] = target
    return sorted(written.values())


def _iter_files(archive: Path) -> Iterator[tuple[str, int, IO[bytes]]]:
    """(normalized path, size, readable stream) for each regular file, in archive order.

    The stream is only valid until the next item: tar archives are read front to back, once.
    """
    kind = archive_kind(archive)
    if kind == "zip":
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    with zf.open(info) as stream:
                        yield normalize(info.filename), info.file_size, stream
    elif kind == "tar":
        with tarfile.open(archive, "r:*") as tf:
            yield from _tar_files(tf)
    else:
        with _deb_data_tar(archive) as tf:
            yield from _tar_files(tf)


def _tar_files(tf: tarfile.TarFile) -> Iterator[tuple[str, int, IO[bytes]]]:
    for info in tf:
        if info.isfile():
            stream = tf.extractfile(info)
            if stream is not None:
                yield normalize(info.name), info.size, stream


@contextmanager
def _deb_data_tar(deb: Path) -> Iterator[tarfile.TarFile]:
    """The file-system tar of a .deb: through ``dpkg-deb`` where it exists, else read from the ar archive.

    dpkg-deb knows every compression Debian and Ubuntu use (zstd included); the fallback covers
    machines without dpkg for the gzip/xz/bzip2 members that Python's tarfile opens by itself.
    """
    if shutil.which("dpkg-deb"):
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
                yield tf
            proc.stdout.read()  # drain, so dpkg-deb is not killed by a closed pipe
        finally:
            proc.stdout.close()
            err = proc.stderr.read().decode(errors="replace")
            proc.stderr.close()
            code = proc.wait()
        if code != 0:
            raise ValueError(f"dpkg-deb --fsys-tarfile {deb} failed ({code}): {err.strip()}")
        return
    name, payload = _ar_member(deb, "data.tar")
    if name.endswith(".zst"):
        raise ValueError(f"{deb.name} compresses its files with zstd, which needs dpkg-deb: "
                         "install dpkg, or unpack the .deb with another tool and use the local-copy path")
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:*") as tf:
        yield tf


def _ar_member(deb: Path, prefix: str) -> tuple[str, bytes]:
    """The first member of the ar archive ``deb`` whose name starts with ``prefix``: (name, bytes).

    The ar format: an 8-byte magic, then per member a 60-byte text header (name 16, mtime 12, uid 6,
    gid 6, mode 8, size 10, end marker 2) and the data, padded to an even length.
    """
    with open(deb, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise ValueError(f"{deb} is not a .deb (no ar archive header)")
        while header := f.read(60):
            if len(header) < 60 or header[58:60] != b"`\n":
                raise ValueError(f"{deb}: damaged ar member header")
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            if name.startswith(prefix):
                return name, f.read(size)
            f.seek(size + (size & 1), io.SEEK_CUR)
    raise ValueError(f"{deb} has no {prefix}* member: not a binary Debian package")


@contextmanager
def _progress_bar(label: str | None):
    """A byte-counting tqdm bar on stderr when there is a terminal to show it, else a silent stand-in."""
    bar = None
    if label:
        try:
            from tqdm import tqdm
        except ImportError:  # tqdm is a nicety here, not a requirement
            tqdm = None
        if tqdm is not None:
            bar = tqdm(desc=label, unit="B", unit_scale=True, unit_divisor=1024, leave=False, disable=None)
    try:
        yield bar if bar is not None else _NoBar()
    finally:
        if bar is not None:
            bar.close()


class _NoBar:
    def update(self, n: int) -> None:
        pass
