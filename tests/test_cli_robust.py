"""What a user can throw at the command line: binary files given as text, Ctrl-C in any verb."""

import os
import sys
from pathlib import Path

import pytest

from titans.cli import main
from titans.data import load_documents
from titans.data.textfiles import BinaryFileError, binary_allowed

TINY = ["--preset", "tiny", "--variant", "transformer", "--context", "32", "--batch-tokens", "64", "--steps", "2",
        "--eval-every", "2", "--eval-tokens", "64", "--save-every", "2", "--sample-tokens", "0", "--no-progress",
        "--device", "cpu"]


def executable() -> Path:
    ls = Path("/bin/ls")
    return ls if ls.is_file() else Path(sys.executable).resolve()


def test_train_refuses_an_executable_with_one_line_naming_the_file_and_the_flag(tmp_path, capsys):
    binary = executable()
    with pytest.raises(SystemExit) as stop:
        main(["train", "--data", str(binary), "--out", str(tmp_path / "run"), *TINY])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"titans train: error: {binary} does not look like text (a NUL byte")
    assert "--allow-binary" in err
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_allow_binary_trains_on_a_binary_file(tmp_path, capsys):
    data = tmp_path / "blob.bin"
    data.write_bytes(bytes(range(256)) * 64)
    main(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--allow-binary", *TINY])
    assert "trained transformer" in capsys.readouterr().out


def test_binary_detection_in_files_and_folders(tmp_path):
    noisy = tmp_path / "noise.txt"
    noisy.write_bytes(bytes(b % 255 + 1 for b in os.urandom(8192)))  # no NUL, mostly not UTF-8
    with pytest.raises(BinaryFileError, match=r"noise.txt does not look like text \(\d+% of its first 8,192 bytes "
                                              r"are not UTF-8; .*iconv"):
        load_documents(noisy)
    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "a.txt").write_text("a fine text\n")
    (folder / "b.txt").write_bytes(b"PK\x03\x04\x00\x00 an archive renamed")
    with pytest.raises(BinaryFileError, match=r"b.txt does not look like text \(a NUL byte at offset 4\)"):
        load_documents(folder)
    with binary_allowed():
        assert [d.name for d in load_documents(folder)] == ["a", "b"]
    with pytest.raises(BinaryFileError):  # allowed only inside the block
        load_documents(folder)


def test_text_in_latin1_or_cut_inside_a_character_is_still_text(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes(("Le cœur a ses raisons que la raison ne connaît point. " * 200).encode("latin-1", "replace"))
    assert load_documents(latin)[0].text.startswith("Le c")
    cut = tmp_path / "cut.txt"
    cut.write_bytes("déjà vu ".encode() * 300 + "é".encode()[:1])
    assert load_documents(cut)[0].text.endswith("\ufffd")


@pytest.mark.parametrize("verb,module,function", [(["info", "tiny"], "info", "run"),
                                                  (["generate", "somewhere", "--prompt", "x"], "generate", "run"),
                                                  (["eval", "ppl", "somewhere"], "evaluate", "run_ppl")])
def test_ctrl_c_in_any_verb_is_one_line_and_exit_130(monkeypatch, capsys, verb, module, function):
    import importlib

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(f"titans.cli.{module}"), function, interrupted)
    with pytest.raises(SystemExit) as stop:
        main(verb)
    assert stop.value.code == 130
    err = capsys.readouterr().err
    assert err == f"titans {verb[0]}: interrupted (Ctrl-C); nothing more was written\n"
