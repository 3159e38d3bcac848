"""``evaluate``: seed → fit → recursive judge loop over a pool → metrics on a test set.

The pool's labels reach the loop only through the judge (a simulated expert when ``judge`` is a spec such
as ``"simulated:0.95"``); they are also used to score delivered accuracy and how well each uncertainty
measure finds the model's errors (AUROC on the pool, before any judging).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from redline.core.classifier import RedClassifier
from redline.core.config import EngineConfig, LoopConfig
from redline.core.judge_interface import BlockingJudge
from redline.core.loop import UNRESOLVED, VALIDATED, LoopState, RecursiveLoop
from redline.core.metrics import delivered_accuracy
from redline.errors import InputDataError


@dataclass(frozen=True)
class LabelledSet:
    """Texts, their labels and their normalised embeddings, row-aligned."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    X: NDArray[np.floating]

    def __post_init__(self) -> None:
        if not (len(self.texts) == len(self.labels) == np.asarray(self.X).shape[0]):
            raise InputDataError(
                f"LabelledSet: {len(self.texts)} texts, {len(self.labels)} labels, "
                f"{np.asarray(self.X).shape[0]} embeddings"
            )

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx: Sequence[int] | NDArray[np.integer]) -> LabelledSet:
        """Rows ``idx`` as a new set."""
        ids = np.asarray(idx, dtype=np.int64)
        return LabelledSet(
            tuple(self.texts[i] for i in ids.tolist()),
            tuple(self.labels[i] for i in ids.tolist()),
            np.asarray(self.X)[ids],
        )


@dataclass
class EvaluationResult:
    """Metrics of one evaluation run (see :meth:`to_dict`)."""

    accuracy: float
    macro_f1: float
    baseline_accuracy: float
    delivered_accuracy: float
    unresolved: int
    judge_calls: int
    pool_size: int
    rounds: int
    rounds_detail: list[dict[str, Any]]
    error_auroc: dict[str, float]
    config: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = {k: v for k, v in self.__dict__.items() if k != "extra"}
        out.update(self.extra)
        return out


def _auroc(is_error: NDArray[np.bool_], score: NDArray[np.floating]) -> float:
    # deferred: scikit-learn costs about a second to import; importing the core need not pay for it
    from sklearn.metrics import roc_auc_score

    if is_error.all() or not is_error.any():
        return float("nan")
    return float(roc_auc_score(is_error, score))


def delivered_labels(state: LoopState, pool_pred: NDArray[np.str_]) -> list[str | None]:
    """Labels the system commits for the pool: validated label, ``None`` when unresolved, else the model's."""
    out: list[str | None] = []
    for i, p in enumerate(pool_pred.tolist()):
        if state.status[i] == VALIDATED:
            out.append(state.label[i])
        elif state.status[i] == UNRESOLVED:
            out.append(None)
        else:
            out.append(str(p))
    return out


def evaluate(
    seed: LabelledSet,
    pool: LabelledSet,
    test: LabelledSet,
    *,
    engine: EngineConfig,
    loop: LoopConfig,
    judge: BlockingJudge,
    label_descriptions: Mapping[str, str] | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> EvaluationResult:
    """Fit on ``seed``, run the judge loop over ``pool``, score on ``test``.

    Parameters
    ----------
    seed, pool, test : LabelledSet
    engine, loop : EngineConfig, LoopConfig
    judge : BlockingJudge
        Answers the loop's questions; for benchmarks a simulated expert answering from the pool's
        labels (:func:`redline.judge.specs.simulated_expert`). Its ``stats()``, when it has one, is
        reported under ``judge``.
    label_descriptions : mapping, optional
    progress : callable, optional
        Receives each round's record (``round``, ``test_accuracy``, ``delivered_accuracy``) as it ends;
        the CLI draws its progress bar from it, so the core stays free of I/O.
    """
    unknown = sorted(set(test.labels) - set(seed.labels))
    if unknown:
        raise InputDataError(f"test labels unknown to training: {', '.join(unknown[:5])}")
    unknown = sorted(set(pool.labels) - set(seed.labels))
    if unknown:
        raise InputDataError(f"pool labels unknown to training: {', '.join(unknown[:5])}")
    t_start = time.perf_counter()
    baseline = RedClassifier(EngineConfig(scorer="flat", features="embedding", C=10.0, seed=engine.seed))
    baseline.fit(seed.X, seed.texts, seed.labels)
    y_test = np.asarray(test.labels)
    baseline_acc = float(np.mean(baseline.predict(test.X, test.texts) == y_test))
    baseline_pool = baseline.predict_scores(pool.X, pool.texts)
    y_pool = np.asarray(pool.labels)
    base_err = baseline.classes_[np.argmax(baseline_pool.proba, axis=1)] != y_pool

    t_fit = time.perf_counter()
    model = RedClassifier(engine).fit(seed.X, seed.texts, seed.labels, label_descriptions)
    fit_seconds = time.perf_counter() - t_fit
    s0 = model.predict_scores(pool.X, pool.texts)
    err0 = model.classes_[np.argmax(s0.proba, axis=1)] != y_pool
    error_auroc = {
        "entropy": _auroc(err0, s0.entropy),
        "margin": _auroc(err0, s0.margin),
        "flat_lr_margin": _auroc(base_err, baseline_pool.margin),
        "flat_lr_entropy": _auroc(base_err, baseline_pool.entropy),
    }
    unc0 = s0.uncertainty(engine.uncertainty)
    top = np.argsort(-unc0, kind="stable")[: int(0.15 * len(pool))]
    errors_in_top15 = float(err0[top].sum() / max(err0.sum(), 1))

    expert = judge

    def on_round(state: LoopState, pool_pred: NDArray[np.str_]) -> dict[str, Any]:
        test_pred = model.predict(test.X, test.texts)
        delivered = delivered_labels(state, pool_pred)
        rec = {
            "test_accuracy": float(np.mean(test_pred == y_test)),
            "delivered_accuracy": delivered_accuracy(delivered, pool.labels),
        }
        if progress is not None:
            progress({"round": len(state.rounds), **rec})
        return rec

    state = RecursiveLoop(model, expert, loop, engine.uncertainty, label_descriptions).run(
        pool.X, pool.texts, on_round
    )
    final = state.rounds[-1]
    test_pred = model.predict(test.X, test.texts)
    from sklearn.metrics import f1_score  # deferred: as in _auroc

    stats = getattr(expert, "stats", None)
    judge_stats = stats() if callable(stats) else {}
    return EvaluationResult(
        accuracy=float(np.mean(test_pred == y_test)),
        macro_f1=float(f1_score(y_test, test_pred, average="macro")),
        baseline_accuracy=baseline_acc,
        delivered_accuracy=float(final["delivered_accuracy"]),
        unresolved=int((state.status == UNRESOLVED).sum()),
        judge_calls=state.judge_calls,
        pool_size=len(pool),
        rounds=len(state.rounds) - 1,
        rounds_detail=state.rounds,
        error_auroc=error_auroc,
        config={"engine": engine.to_dict(), "loop": loop.to_dict()},
        extra={
            "seed_accuracy": float(state.rounds[0]["test_accuracy"]),
            "validated": int((state.status == VALIDATED).sum()),
            "stop_reason": state.stop_reason,
            "errors_in_top15_uncertain": errors_in_top15,
            "judge": judge_stats,
            "fit_seconds": fit_seconds,
            "seconds": time.perf_counter() - t_start,
            "partition_notes": list(model.partition_.notes_) if model.partition_ is not None else [],
        },
    )
