"""Judge questions: what to ask, with which examples, and held-out sets to calibrate on.

:func:`nearest_examples` picks the ``c`` training examples of a label most similar to a text (the
context the judge sees). :func:`hard_negative_questions` builds held-out questions for calibration
and evaluation: each held-out text is asked once about its true label and once about the nearest
wrong label (by cosine between example-embedding centroids), the case a judge finds hardest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from redline.core.judge_interface import JudgeContext
from redline.core.labels import unit_rows
from redline.errors import InputDataError


@dataclass(frozen=True)
class JudgeQuestion:
    """One yes/no question for a judge.

    Parameters
    ----------
    text : str
        The text.
    label : str
        The proposed label.
    context : JudgeContext
        The label's description and nearest examples.
    truth : bool or None
        The right answer when known (calibration, evaluation).
    """

    text: str
    label: str
    context: JudgeContext = field(default_factory=JudgeContext)
    truth: bool | None = None


def _normalise(matrix: NDArray[np.floating]) -> NDArray[np.float64]:
    """Rows scaled to unit length (zero rows stay zero); a vector is one row."""
    m = np.asarray(matrix, dtype=np.float64)
    return np.asarray(unit_rows(m.reshape(1, -1) if m.ndim == 1 else m), dtype=np.float64).reshape(m.shape)


def nearest_examples(
    text_embedding: NDArray[np.floating],
    example_embeddings: NDArray[np.floating],
    examples: Sequence[str],
    c: int = 5,
) -> list[str]:
    """The ``c`` examples most similar (cosine) to the text, most similar first.

    Parameters
    ----------
    text_embedding : array of shape (d,)
    example_embeddings : array of shape (n, d)
        Embeddings of ``examples`` (one label's training examples).
    examples : sequence of str
    c : int
    """
    if len(examples) != len(example_embeddings):
        raise InputDataError(f"{len(examples)} examples but {len(example_embeddings)} embeddings")
    if c <= 0 or not len(examples):
        return []
    sims = _normalise(example_embeddings) @ _normalise(np.asarray(text_embedding).reshape(-1))
    order = np.argsort(-sims, kind="stable")[:c]
    return [examples[int(i)] for i in order]


def label_centroids(
    embeddings: NDArray[np.floating], labels: Sequence[str]
) -> tuple[list[str], NDArray[np.float64]]:
    """Sorted label names and the normalised mean of each label's normalised embeddings."""
    if len(labels) != len(embeddings):
        raise InputDataError(f"{len(labels)} labels but {len(embeddings)} embeddings")
    names = sorted(set(labels))
    index = {name: i for i, name in enumerate(names)}
    rows = _normalise(embeddings)
    sums = np.zeros((len(names), rows.shape[1]))
    np.add.at(sums, np.array([index[lab] for lab in labels]), rows)
    return names, _normalise(sums)


def nearest_wrong_labels(names: Sequence[str], centroids: NDArray[np.floating]) -> dict[str, str]:
    """For each label, the other label whose centroid is most similar (cosine)."""
    if len(names) < 2:
        raise InputDataError("need at least two labels to find a nearest wrong label")
    sims = _normalise(centroids) @ _normalise(centroids).T
    np.fill_diagonal(sims, -np.inf)
    return {names[i]: names[int(np.argmax(sims[i]))] for i in range(len(names))}


def hard_negative_questions(
    texts: Sequence[str],
    labels: Sequence[str],
    embeddings: NDArray[np.floating],
    *,
    per_label: int = 2,
    c: int = 5,
    descriptions: dict[str, str] | None = None,
    seed: int = 0,
) -> list[JudgeQuestion]:
    """Held-out questions: each held-out text against its true label and its nearest wrong label.

    For every label, ``per_label`` texts are held out (at random, seeded); the context examples are
    drawn only from the remaining texts, so no question shows its own text as an example.

    Parameters
    ----------
    texts, labels : sequence of str
        The training set.
    embeddings : array of shape (n, d)
        Embeddings of ``texts``.
    per_label : int
        Held-out texts per label (labels with fewer than ``per_label + 1`` texts give fewer).
    c : int
        Nearest examples per question.
    descriptions : dict, optional
        Label descriptions.
    seed : int

    Returns
    -------
    list of JudgeQuestion
        Pairs (true, hard negative) in a deterministic order; ``truth`` set.
    """
    if not (len(texts) == len(labels) == len(embeddings)):
        raise InputDataError("texts, labels and embeddings must have the same length")
    names, centroids = label_centroids(embeddings, labels)
    wrong = nearest_wrong_labels(names, centroids)
    descriptions = descriptions or {}
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {name: [] for name in names}
    for i, lab in enumerate(labels):
        by_label[lab].append(i)
    held: dict[str, list[int]] = {}
    pool: dict[str, list[int]] = {}
    for name in names:
        idx = np.array(by_label[name])
        take = min(per_label, max(len(idx) - 1, 0))
        chosen = rng.permutation(idx)[:take] if take else np.array([], dtype=int)
        held[name] = [int(i) for i in chosen]
        pool[name] = [int(i) for i in idx if int(i) not in set(held[name])]
    rows = np.asarray(embeddings)
    questions: list[JudgeQuestion] = []
    for name in names:
        for i in held[name]:
            for proposed, truth in ((name, True), (wrong[name], False)):
                ids = pool[proposed]
                shown = nearest_examples(rows[i], rows[ids], [texts[j] for j in ids], c)
                context = JudgeContext(description=descriptions.get(proposed, ""), examples=tuple(shown))
                questions.append(JudgeQuestion(texts[i], proposed, context, truth))
    return questions
