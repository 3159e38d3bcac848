"""redline.adapters.bundled_datasets: the shipped CLINC150 and BANKING77, split into seed / pool / test."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from redline.adapters.bundled_datasets import load_dataset, split_dataset
from redline.errors import ConfigError, InputDataError


@pytest.fixture(scope="module")
def clinc():  # type: ignore[no-untyped-def]
    return load_dataset("clinc150")


@pytest.fixture(scope="module")
def banking():  # type: ignore[no-untyped-def]
    return load_dataset("banking77")


def test_clinc150_in_scope_only(clinc) -> None:  # type: ignore[no-untyped-def]
    assert len(clinc.labels) == 150
    assert {k: len(v) for k, v in clinc.splits.items()} == {"train": 15000, "val": 3000, "test": 4500}
    assert all(e.label != "oos" for split in clinc.splits.values() for e in split)
    assert clinc.descriptions["account_blocked"] == "account blocked (banking)"


def test_banking77(banking) -> None:  # type: ignore[no-untyped-def]
    assert len(banking.labels) == 77
    assert {k: len(v) for k, v in banking.splits.items()} == {"train": 10003, "test": 3080}
    first = banking.splits["train"][0]
    assert (first.text, first.label, first.line) == ("I am still waiting on my card?", "card_arrival", 2)
    # a text with a comma survives the CSV quoting
    assert any("," in e.text for e in banking.splits["train"])


@pytest.mark.parametrize(
    ("name", "n_labels", "train", "test"), [("clinc150", 150, 15000, 4500), ("banking77", 77, 10003, 3080)]
)
def test_split_sizes_and_disjointness(name: str, n_labels: int, train: int, test: int) -> None:
    split = split_dataset(load_dataset(name), seed_per_class=30, seed=0)
    assert Counter(e.label for e in split.seed) == {label: 30 for label in split.descriptions}
    assert len(split.descriptions) == n_labels
    assert len(split.seed) + len(split.pool) == train and len(split.test) == test
    seed_lines = {e.line for e in split.seed}
    assert not seed_lines & {e.line for e in split.pool}
    assert {e.label for e in split.pool} == set(split.descriptions)


def test_split_is_deterministic_for_a_seed_and_differs_across_seeds(clinc) -> None:  # type: ignore[no-untyped-def]
    a = split_dataset(clinc, seed_per_class=10, seed=1)
    b = split_dataset(clinc, seed_per_class=10, seed=1)
    c = split_dataset(clinc, seed_per_class=10, seed=2)
    assert [e.line for e in a.seed] == [e.line for e in b.seed]
    assert [e.line for e in a.pool] == [e.line for e in b.pool]
    assert [e.line for e in a.seed] != [e.line for e in c.seed]
    assert [e.line for e in a.test] == [e.line for e in c.test]


def test_max_classes_keeps_the_first_labels(clinc) -> None:  # type: ignore[no-untyped-def]
    split = split_dataset(clinc, seed_per_class=5, max_classes=10)
    assert list(split.descriptions) == clinc.labels[:10]
    assert {e.label for e in split.seed} == {e.label for e in split.pool} == {e.label for e in split.test}
    assert len(split.seed) == 50 and len(split.pool) == 950 and len(split.test) == 300


def test_bad_arguments(clinc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="unknown data set 'mnist'"):
        load_dataset("mnist")
    with pytest.raises(ConfigError, match="not more than seed_per_class=100"):
        split_dataset(clinc, seed_per_class=100)
    with pytest.raises(ConfigError, match="at least 2"):
        split_dataset(clinc, seed_per_class=1)
    with pytest.raises(InputDataError, match="no such file"):
        load_dataset("clinc150", tmp_path)
    (tmp_path / "clinc150").mkdir()
    (tmp_path / "clinc150" / "data_full.json").write_text("{oops")
    with pytest.raises(InputDataError, match="not valid JSON"):
        load_dataset("clinc150", tmp_path)


def test_data_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "clinc150").mkdir()
    data = {
        "train": [["a b", "x"], ["c d", "x"], ["e f", "y"], ["g h", "y"]],
        "val": [],
        "test": [["i", "x"]],
    }
    (tmp_path / "clinc150" / "data_full.json").write_text(json.dumps(data))
    monkeypatch.setenv("REDLINE_DATA_DIR", str(tmp_path))
    ds = load_dataset("clinc150")
    assert ds.labels == ["x", "y"] and ds.descriptions == {"x": "x", "y": "y"}
