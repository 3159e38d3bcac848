"""What ``redline fit``, ``predict`` and ``evaluate`` share: reading a training set, embedding texts."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from redline.adapters.jsonl_files import (
    Example,
    check_label_descriptions,
    check_training_set,
    display_name,
    read_examples,
    read_labels,
)
from redline.errors import ModelError

if TYPE_CHECKING:  # deferred: the embedder module loads pydantic (0.2-0.4 s), not needed for `--help`
    from redline.adapters.embedder import Embedder

#: builds the run's embedder when a command first needs it (after its input is checked)
EmbedderFactory = Callable[[], "Embedder"]


def read_training(train: Path, labels: Path | None) -> tuple[list[Example], dict[str, str]]:
    """The training examples of ``train`` and the label descriptions of ``labels`` (if given), checked.

    Raises
    ------
    InputDataError
        One line naming the file and line of the first problem.
    """
    examples = read_examples(train)
    check_training_set(examples, display_name(train))
    descriptions: dict[str, str] = {}
    if labels is not None:
        descriptions = read_labels(labels)
        check_label_descriptions(
            descriptions, {str(e.label) for e in examples}, display_name(labels), display_name(train)
        )
    return examples, descriptions


def embed_texts(embedder: Embedder, texts: Sequence[str]) -> tuple[np.ndarray, float]:
    """Embeddings of ``texts`` as float32 rows, and the seconds it took.

    Raises
    ------
    ModelError
        The embedder returned the wrong shape.
    """
    t0 = time.perf_counter()
    X = np.asarray(embedder.encode(texts), dtype=np.float32)
    if X.ndim != 2 or X.shape[0] != len(texts):
        raise ModelError(f"the embedder returned shape {X.shape} for {len(texts)} texts")
    return X, time.perf_counter() - t0
