"""Small but genuine registry archives built on the fly, so fetching is tested offline end to end:
a wheel and an sdist that ``pip download --no-index --find-links`` accepts, a .deb that dpkg-deb
reads, and an R lazy-load database like the one janeaustenr ships."""

from __future__ import annotations

import io
import tarfile
import time
import zipfile
from pathlib import Path


def make_wheel(folder: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """A pure-Python wheel ``name-version-py3-none-any.whl`` holding ``files`` (path -> content)."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    contents = dict(files)
    contents[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    contents[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    contents[f"{info}/RECORD"] = "".join(f"{p},,\n" for p in [*contents, f"{info}/RECORD"]).encode()
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in contents.items():
            zf.writestr(member, data)
    return path


def make_sdist(folder: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """A setuptools sdist ``name-version.tar.gz`` with ``files`` below its ``name-version/`` top folder."""
    top = f"{name}-{version}"
    contents = dict(files)
    contents["PKG-INFO"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    contents["setup.py"] = f"from setuptools import setup\nsetup(name={name!r}, version={version!r}, " \
                           f"packages=[])\n".encode()
    path = folder / f"{top}.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for member, data in contents.items():
            _add(tf, f"{top}/{member}", data)
    return path


def make_deb(folder: Path, package: str, files: dict[str, bytes], *, compression: str = "xz") -> Path:
    """A minimal binary .deb: ar archive of debian-binary, control.tar.xz and data.tar.<compression>,
    the files (absolute install paths -> content) stored as ``./usr/...`` like dpkg-deb writes them."""
    control = (f"Package: {package}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: Tests <tests@invalid>\n"
               f"Description: test package\n").encode()
    parts = [("debian-binary", b"2.0\n"), ("control.tar.xz", _tar({"./control": control}, "xz")),
             (f"data.tar.{compression}", _tar({"." + p: d for p, d in files.items()}, compression))]
    out = bytearray(b"!<arch>\n")
    for member, data in parts:
        header = (f"{member:<16}{int(time.time()):<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n").encode()
        assert len(header) == 60
        out += header + data + (b"\n" if len(data) % 2 else b"")
    path = folder / f"{package}_1.0-1_all.deb"
    path.write_bytes(bytes(out))
    return path


def write_lazyload_db(folder: Path, objects: dict, *, compressed=True, kind: bytes = b"Z") -> tuple[Path, Path]:
    """``Rdata.rdb`` + ``Rdata.rdx`` as R's makeLazyLoadDB writes them, for Python values rdata can write.

    compressed: True (zlib records), False (bare), or 2/3 (typed records, ``kind`` chooses the codec).
    """
    import bz2
    import lzma
    import zlib

    import numpy as np
    import rdata

    rdb = bytearray()
    variables = {}
    for name, value in objects.items():
        scratch = folder / "object.rds"
        rdata.write_rds(scratch, value, compression=None)  # a bare R serialization, b"X\n..."
        raw = scratch.read_bytes()
        scratch.unlink()
        if compressed is True:
            record = len(raw).to_bytes(4, "big") + zlib.compress(raw)
        elif compressed is False:
            record = raw
        else:
            # R's xz records are raw LZMA2 at preset 6, no .xz container (serialize.c, R_compress3)
            r_xz = lambda raw: lzma.compress(raw, format=lzma.FORMAT_RAW,  # noqa: E731
                                             filters=[{"id": lzma.FILTER_LZMA2, "preset": 6}])
            codec = {b"Z": r_xz, b"2": bz2.compress, b"1": zlib.compress, b"0": bytes}[kind]
            record = len(raw).to_bytes(4, "big") + kind + codec(raw)
        variables[name] = np.array([len(rdb), len(record)], dtype=np.int32)
        rdb += record
    flag = compressed if isinstance(compressed, bool) else np.array([compressed], dtype=np.int32)
    index = {"variables": variables, "references": {}, "compressed": flag}
    rdx_path, rdb_path = folder / "Rdata.rdx", folder / "Rdata.rdb"
    rdata.write_rds(rdx_path, index, compression="gzip")
    rdb_path.write_bytes(bytes(rdb))
    return rdx_path, rdb_path


def _tar(files: dict[str, bytes], compression: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}") as tf:
        for member, data in files.items():
            _add(tf, member, data)
    return buffer.getvalue()


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
    tf.addfile(info, io.BytesIO(data))
