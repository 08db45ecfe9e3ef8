"""The bounded JSON reader behind config.json and tokenizer.json: each refusal names the file, what it is
not, and the fix; a large file is refused without being read past the bound."""

import pytest

from titans import jsonfile
from titans.jsonfile import read_json_object


class Refused(ValueError):
    pass


@pytest.mark.parametrize("content,message", [
    (b'{"dim": 64, "pad": "' + b"x" * 200 + b'"}', r"is 2\d\d bytes \(more than 100\): not a config; redo it"),
    (b'{"dim": 6', r"is not valid JSON \(.*\): not a config; redo it"),
    (b"\xff\xfe{}", r"is not valid JSON \(.*utf-8.*\): not a config; redo it"),
    (b"[1, 2]", r"holds a JSON list, not a config; redo it"),
])
def test_refusals_name_the_file_what_it_is_not_and_the_fix(tmp_path, monkeypatch, content, message):
    monkeypatch.setattr(jsonfile, "MAX_JSON_BYTES", 100)
    path = tmp_path / "config.json"
    path.write_bytes(content)
    with pytest.raises(Refused, match=message) as refused:
        read_json_object(path, "a config", "redo it", Refused)
    assert str(refused.value).startswith(str(path))


def test_an_object_is_returned(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"dim": 64}')
    assert read_json_object(path, "a config", "redo it") == {"dim": 64}
