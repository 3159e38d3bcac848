"""Metrics shared by the offline evaluation and the stream's result summary."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from redline.errors import InputDataError


def delivered_accuracy(emitted_labels: Sequence[str | None], truth: Sequence[str]) -> float:
    """Share of texts whose emitted label is the true one; no label (``None``) counts as wrong.

    This is "delivered accuracy": what a consumer of the system's labels gets, where a text left
    without a label (unresolved, judge unavailable) is as useless as a wrong one.

    Parameters
    ----------
    emitted_labels : sequence of str or None
        The label the system committed for each text, ``None`` where it committed none.
    truth : sequence of str
        The true label of each text, aligned with ``emitted_labels``.

    Returns
    -------
    float
        In [0, 1]; ``nan`` when there are no texts.

    Raises
    ------
    InputDataError
        When the two sequences differ in length.
    """
    # deferred: scikit-learn costs about a second to import; importing the core need not pay for it
    from sklearn.metrics import accuracy_score

    if len(emitted_labels) != len(truth):
        raise InputDataError(f"{len(emitted_labels)} emitted labels for {len(truth)} true labels")
    if len(truth) == 0:
        return float("nan")
    # labels as integer codes, None as -1: accuracy_score cannot compare None with strings
    codes = {label: i for i, label in enumerate(dict.fromkeys(str(t) for t in truth))}
    true_codes = np.fromiter((codes[str(t)] for t in truth), dtype=np.int64, count=len(truth))
    emitted_codes = np.fromiter(
        (-1 if e is None else codes.get(str(e), -1) for e in emitted_labels),
        dtype=np.int64,
        count=len(emitted_labels),
    )
    return float(accuracy_score(true_codes, emitted_codes))
