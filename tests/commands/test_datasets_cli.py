"""``redline datasets``: export files that the engine commands read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redline.adapters.jsonl_files import check_known_labels, check_training_set, read_examples, read_labels
from redline.cli import main


def test_export_writes_four_valid_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "clinc10"
    rc = main(
        [
            "datasets",
            "export",
            "--name",
            "clinc150",
            "--seed-per-class",
            "20",
            "--max-classes",
            "10",
            "--seed",
            "3",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["records"] == {"seed": 200, "pool": 800, "test": 300, "labels": 10}
    seed = read_examples(out / "seed.jsonl")
    check_training_set(seed, out / "seed.jsonl")
    labels = read_labels(out / "labels.jsonl")
    assert set(labels) == {e.label for e in seed}
    for name in ("pool.jsonl", "test.jsonl"):
        check_known_labels(read_examples(out / name), labels, out / name, "seed.jsonl")
    # the same seed gives byte-identical files
    again = tmp_path / "again"
    main(
        [
            "datasets",
            "export",
            "--name",
            "clinc150",
            "--seed-per-class",
            "20",
            "--max-classes",
            "10",
            "--seed",
            "3",
            "--out",
            str(again),
        ]
    )
    for name in ("seed.jsonl", "pool.jsonl", "test.jsonl", "labels.jsonl"):
        assert (out / name).read_bytes() == (again / name).read_bytes()


def test_export_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        ["datasets", "export", "--name", "banking77", "--seed-per-class", "500", "--out", str(tmp_path)]
    )
    assert rc == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("redline: error: banking77: label") and "\n" not in err
    assert list(tmp_path.iterdir()) == []


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    assert "clinc150: 150 labels; train 15000, val 3000, test 4500" in out
    assert "banking77: 77 labels; train 10003, test 3080" in out
