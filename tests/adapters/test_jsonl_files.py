"""redline.adapters.jsonl_files: JSONL examples and labels files, with every error naming file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redline.adapters.jsonl_files import (
    Example,
    check_known_labels,
    check_label_descriptions,
    check_training_set,
    read_examples,
    read_json_lines,
    read_labels,
    write_examples,
    write_labels,
)
from redline.errors import InputDataError


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _lines(*objs: object) -> str:
    return "".join(json.dumps(o) + "\n" for o in objs)


def test_reads_examples_with_line_numbers_extra_fields_and_blank_lines(tmp_path: Path) -> None:
    p = _write(
        tmp_path / "t.jsonl",
        _lines({"text": "hello", "label": "greet", "id": 7})
        + "\n   \n"
        + _lines({"text": "bye", "label": "leave"}),
    )
    examples = read_examples(p)
    assert [(e.text, e.label, e.line) for e in examples] == [("hello", "greet", 1), ("bye", "leave", 4)]
    assert examples[0].extra == {"id": 7}
    assert examples[1].extra == {}


def test_utf8_bom_and_non_ascii_text_are_read(tmp_path: Path) -> None:
    body = _lines({"text": "caf\u00e9 \u2615", "label": "x"}).encode()
    p = _write(tmp_path / "t.jsonl", b"\xef\xbb\xbf" + body)
    assert read_examples(p)[0].text == "caf\u00e9 \u2615"


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file_is_an_error(tmp_path: Path, content: str) -> None:
    p = _write(tmp_path / "empty.jsonl", content)
    with pytest.raises(InputDataError, match=r"empty\.jsonl: file is empty"):
        read_examples(p)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match=r"nope\.jsonl: no such file"):
        read_examples(tmp_path / "nope.jsonl")


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    good = _lines({"text": "a", "label": "x"}).encode()
    p = _write(tmp_path / "bad.jsonl", good + good + b'{"text": "caf\xe9", "label": "x"}\n')
    with pytest.raises(InputDataError, match=r"bad\.jsonl:3: invalid UTF-8 \(byte 0xe9 at column 14\)"):
        read_examples(p)


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    p = _write(tmp_path / "bad.jsonl", _lines({"text": "a", "label": "x"}) + '{"text": "b", "label": }\n')
    with pytest.raises(InputDataError, match=r"bad\.jsonl:2: invalid JSON: .*column"):
        read_examples(p)


def test_non_object_line_is_an_error(tmp_path: Path) -> None:
    p = _write(tmp_path / "bad.jsonl", '["a", "x"]\n')
    with pytest.raises(InputDataError, match=r"bad\.jsonl:1: expected a JSON object, got list"):
        read_examples(p)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"label": "x"}, 'missing "text"'),
        ({"text": "", "label": "x"}, '"text" is empty'),
        ({"text": "   ", "label": "x"}, '"text" is empty'),
        ({"text": 5, "label": "x"}, '"text" must be a string, got int'),
        ({"text": "a"}, 'missing "label"'),
        ({"text": "a", "label": ""}, '"label" is empty'),
        ({"text": "a", "label": None}, 'missing "label"'),
    ],
)
def test_missing_or_empty_fields_name_the_line(
    tmp_path: Path, record: dict[str, object], message: str
) -> None:
    p = _write(tmp_path / "t.jsonl", _lines({"text": "ok", "label": "x"}, record))
    with pytest.raises(InputDataError) as info:
        read_examples(p)
    assert str(info.value) == f"{p}:2: {message}"


def test_label_is_optional_for_prediction_input_but_still_checked(tmp_path: Path) -> None:
    p = _write(tmp_path / "x.jsonl", _lines({"text": "a"}, {"text": "b", "label": "y"}))
    assert [e.label for e in read_examples(p, require_label=False)] == [None, "y"]
    bad = _write(tmp_path / "y.jsonl", _lines({"text": "a", "label": ""}))
    with pytest.raises(InputDataError, match=r"y\.jsonl:1: \"label\" is empty"):
        read_examples(bad, require_label=False)


def test_training_set_needs_two_examples_per_label(tmp_path: Path) -> None:
    p = _write(
        tmp_path / "t.jsonl",
        _lines(*([{"text": f"a{i}", "label": "a"} for i in range(3)] + [{"text": "lonely", "label": "b"}])),
    )
    with pytest.raises(InputDataError) as info:
        check_training_set(read_examples(p), p)
    assert str(info.value) == (f"{p}:4: label 'b' has 1 example(s); every label needs at least 2 to train on")


def test_training_set_needs_two_labels(tmp_path: Path) -> None:
    p = _write(tmp_path / "t.jsonl", _lines({"text": "a", "label": "a"}, {"text": "b", "label": "a"}))
    with pytest.raises(InputDataError, match="at least 2 different labels"):
        check_training_set(read_examples(p), p)


def test_good_training_set_passes(tmp_path: Path) -> None:
    p = _write(tmp_path / "t.jsonl", _lines(*[{"text": f"t{i}", "label": "ab"[i % 2]} for i in range(4)]))
    check_training_set(read_examples(p), p)


def test_unknown_label_in_test_names_the_line_and_training_file(tmp_path: Path) -> None:
    p = _write(tmp_path / "test.jsonl", _lines({"text": "a", "label": "a"}, {"text": "b", "label": "zzz"}))
    with pytest.raises(InputDataError) as info:
        check_known_labels(read_examples(p), {"a", "b"}, p, "train.jsonl")
    assert str(info.value) == f"{p}:2: label 'zzz' does not occur in train.jsonl"


def test_labels_file(tmp_path: Path) -> None:
    p = _write(
        tmp_path / "labels.jsonl",
        _lines({"label": "a", "description": " first "}, {"label": "b"}, {"label": "c", "description": None}),
    )
    assert read_labels(p) == {"a": "first", "b": "", "c": ""}


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([{"description": "x"}], ':1: missing "label"'),
        ([{"label": "a", "description": 3}], ':1: "description" must be a string, got int'),
        ([{"label": "a"}, {"label": "a"}], ":2: label 'a' is listed twice (first on line 1)"),
    ],
)
def test_labels_file_errors(tmp_path: Path, records: list[dict[str, object]], message: str) -> None:
    p = _write(tmp_path / "labels.jsonl", _lines(*records))
    with pytest.raises(InputDataError) as info:
        read_labels(p)
    assert str(info.value) == f"{p}{message}"


def test_labels_file_label_without_examples(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match=r"L\.jsonl: label 'c' has no examples in T\.jsonl"):
        check_label_descriptions({"a": "", "c": ""}, ["a", "b"], "L.jsonl", "T.jsonl")


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    examples = [Example('h\u00e9llo "q"\nnext', "a", extra={"id": 1}), Example("b", "b")]
    out = tmp_path / "sub" / "x.jsonl"
    assert write_examples(out, examples) == 2
    back = read_examples(out)
    assert [(e.text, e.label, dict(e.extra)) for e in back] == [
        ('h\u00e9llo "q"\nnext', "a", {"id": 1}),
        ("b", "b", {}),
    ]
    write_labels(tmp_path / "l.jsonl", {"a": "desc"})
    assert read_labels(tmp_path / "l.jsonl") == {"a": "desc"}
    assert [p.name for p in out.parent.iterdir()] == ["x.jsonl"]  # no temporary file left behind


def test_windows_line_endings_are_read(tmp_path: Path) -> None:
    p = _write(tmp_path / "crlf.jsonl", b'{"text": "a", "label": "x"}\r\n{"text": "b", "label": "y"}\r\n')
    assert [(e.text, e.label, e.line) for e in read_examples(p)] == [("a", "x", 1), ("b", "y", 2)]


def test_dash_reads_stdin_and_names_it_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    class FakeStdin:
        buffer = io.BytesIO(b'{"text": "a", "label": "x"}\n{"text": 1}\n')

    monkeypatch.setattr("sys.stdin", FakeStdin())
    with pytest.raises(InputDataError) as info:
        read_examples("-")
    assert str(info.value) == '<stdin>:2: "text" must be a string, got int'


def test_dash_writes_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert write_examples("-", [Example("a", "x")]) == 1
    assert capsys.readouterr().out == '{"text": "a", "label": "x"}\n'


def test_written_files_get_ordinary_permissions(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        write_labels(tmp_path / "l.jsonl", {"a": ""})
    finally:
        os.umask(old)
    assert (tmp_path / "l.jsonl").stat().st_mode & 0o777 == 0o644


def test_unwritable_output_is_a_clear_error(tmp_path: Path) -> None:
    from redline.errors import ConfigError

    with pytest.raises(ConfigError, match="is a directory, expected a file to write"):
        write_labels(tmp_path, {"a": ""})
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="cannot write"):
        write_labels(tmp_path / "file" / "sub.jsonl", {"a": ""})


def test_read_json_lines_yields_line_numbers_of_objects(tmp_path: Path) -> None:
    p = _write(tmp_path / "x.jsonl", b'\xef\xbb\xbf{"a": 1}\n\n  \n{"b": "\xc3\xa9"}\n')
    assert list(read_json_lines(p)) == [(1, {"a": 1}), (4, {"b": "é"})]


def test_stdin_left_to_a_terminal_is_refused_not_waited_on(monkeypatch: pytest.MonkeyPatch) -> None:
    class TerminalStdin:
        def isatty(self) -> bool:
            return True

        @property
        def buffer(self) -> None:  # pragma: no cover - must not be read
            raise AssertionError("read a terminal")

    monkeypatch.setattr("sys.stdin", TerminalStdin())
    with pytest.raises(InputDataError, match=r"^<stdin>: is a terminal"):
        list(read_json_lines("-"))
