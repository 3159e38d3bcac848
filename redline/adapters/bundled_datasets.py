"""The public intent data sets shipped in ``data/``, split the way redline is evaluated.

:func:`load_dataset` reads CLINC150 (in-scope intents only: 150 labels, official train/val/test) or
BANKING77 (77 labels, official train/test). :func:`split_dataset` turns one into a *seed* (``k``
labelled examples per class from the official train split), a *pool* (the rest of that split: the
unlabelled stream the judge loop works on) and the official *test* split, deterministically for a seed.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from redline.adapters.jsonl_files import Example
from redline.errors import ConfigError, InputDataError

#: the data sets :func:`load_dataset` knows
DATASET_NAMES = ("clinc150", "banking77")


@dataclass(frozen=True)
class Dataset:
    """A labelled data set with its official splits.

    Parameters
    ----------
    name : str
        ``"clinc150"`` or ``"banking77"``.
    splits : mapping
        Split name (``"train"``, ``"test"``, and ``"val"`` for CLINC150) -> examples in file order.
    descriptions : mapping
        Label -> a short human description (the label name in words, with its domain where known).
    """

    name: str
    splits: Mapping[str, Sequence[Example]]
    descriptions: Mapping[str, str]

    @property
    def labels(self) -> list[str]:
        """The label names, sorted."""
        return sorted(self.descriptions)


@dataclass(frozen=True)
class DatasetSplit:
    """Seed / pool / test examples of one data set, as the evaluation uses them."""

    seed: list[Example]
    pool: list[Example]
    test: list[Example]
    descriptions: dict[str, str]


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the data sets live: ``$REDLINE_DATA_DIR``, else the ``data/`` folder of the checkout."""
    env = os.environ if environ is None else environ
    if env.get("REDLINE_DATA_DIR"):
        return Path(env["REDLINE_DATA_DIR"]).expanduser()
    return Path(__file__).resolve().parents[2] / "data"


def _words(label: str) -> str:
    return label.replace("_", " ").strip()


def _load_clinc150(folder: Path) -> Dataset:
    path = folder / "clinc150" / "data_full.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputDataError(f"{path}: no such file (is REDLINE_DATA_DIR right?)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputDataError(f"{path}: not valid JSON: {exc}") from None
    domains: dict[str, str] = {}
    domains_path = folder / "clinc150" / "domains.json"
    if domains_path.exists():
        for domain, intents in json.loads(domains_path.read_text(encoding="utf-8")).items():
            for intent in intents:
                domains[intent] = domain
    splits: dict[str, list[Example]] = {}
    for split in ("train", "val", "test"):  # in-scope only: the oos_* splits are left out
        splits[split] = [
            Example(text=text, label=label, line=i + 1) for i, (text, label) in enumerate(raw[split])
        ]
    labels = sorted({e.label for e in splits["train"] if e.label is not None})
    descriptions = {
        label: _words(label) + (f" ({_words(domains[label])})" if label in domains else "")
        for label in labels
    }
    return Dataset("clinc150", splits, descriptions)


def _read_banking_csv(path: Path) -> list[Example]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise InputDataError(f"{path}: no such file (is REDLINE_DATA_DIR right?)") from None
    # line numbers: the header is line 1; texts carry no newlines in BANKING77
    return [Example(text=r["text"], label=r["category"], line=i + 2) for i, r in enumerate(rows)]


def _load_banking77(folder: Path) -> Dataset:
    base = folder / "banking77"
    splits = {"train": _read_banking_csv(base / "train.csv"), "test": _read_banking_csv(base / "test.csv")}
    labels = sorted({e.label for e in splits["train"] if e.label is not None})
    return Dataset("banking77", splits, {label: _words(label) for label in labels})


def load_dataset(name: str, data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """Load a shipped data set by name.

    Parameters
    ----------
    name : str
        One of :data:`DATASET_NAMES`.
    data_dir : path-like or None
        The folder holding ``clinc150/`` and ``banking77/``; None means :func:`default_data_dir`.

    Raises
    ------
    ConfigError
        An unknown name.
    InputDataError
        A missing or unreadable data file.
    """
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    if name == "clinc150":
        return _load_clinc150(folder)
    if name == "banking77":
        return _load_banking77(folder)
    raise ConfigError(f"unknown data set {name!r}; choose one of {', '.join(DATASET_NAMES)}")


def split_dataset(
    dataset: Dataset, seed_per_class: int = 30, seed: int = 0, max_classes: int | None = None
) -> DatasetSplit:
    """Split a data set into seed, pool and test, deterministically for ``seed``.

    Parameters
    ----------
    dataset : Dataset
        From :func:`load_dataset`.
    seed_per_class : int
        Labelled examples per class in the seed set, drawn at random from the official train split;
        the rest of that split is the pool.
    seed : int
        Random seed: the same data set, ``seed_per_class``, ``max_classes`` and seed give the same split.
    max_classes : int or None
        Keep only the first ``max_classes`` labels in sorted order (for quick trials); None keeps all.

    Returns
    -------
    DatasetSplit
        Seed and pool in the order of the official train file, test in the order of the test file.

    Raises
    ------
    ConfigError
        ``seed_per_class`` below 2 or leaving some class with no pool examples, or ``max_classes`` below 2.
    """
    labels = dataset.labels
    if max_classes is not None:
        if max_classes < 2:
            raise ConfigError(f"max_classes must be at least 2, got {max_classes}")
        labels = labels[:max_classes]
    keep = set(labels)
    if seed_per_class < 2:
        raise ConfigError(f"seed_per_class must be at least 2, got {seed_per_class}")
    train = [e for e in dataset.splits["train"] if e.label in keep]
    by_label: dict[str, list[int]] = {label: [] for label in labels}
    for i, e in enumerate(train):
        by_label[str(e.label)].append(i)
    rng = np.random.default_rng(seed)
    chosen: set[int] = set()
    for label in labels:
        indices = by_label[label]
        if len(indices) <= seed_per_class:
            raise ConfigError(
                f"{dataset.name}: label {label!r} has {len(indices)} training examples, "
                f"not more than seed_per_class={seed_per_class}"
            )
        picked = rng.permutation(len(indices))[:seed_per_class]
        chosen.update(indices[j] for j in picked)
    seed_set = [e for i, e in enumerate(train) if i in chosen]
    pool = [e for i, e in enumerate(train) if i not in chosen]
    test = [e for e in dataset.splits["test"] if e.label in keep]
    return DatasetSplit(seed_set, pool, test, {label: dataset.descriptions[label] for label in labels})
