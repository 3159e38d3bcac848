"""A simulated expert judge, for evaluation only: it answers from ground truth with seeded errors.

Two error models:

``independent`` (spec ``simulated:0.95``)
    every answer is wrong with probability 1 - accuracy, whatever the question.
``confusion-aware`` (spec ``simulated-hard:0.95``)
    errors concentrate on confusable questions, as a real LLM judge's do (near-perfect on random wrong
    labels, ~80 % on the nearest wrong label). Each question gets a weight
    ``w = exp(sharpness * (s - 1))`` where ``s`` is the cosine similarity of the proposed label to the
    true label (a wrong proposal), or of the true label to its nearest other label (a right proposal:
    confusable true labels are falsely rejected more often). The error probability of the i-th question is
    ``min(0.5, (1 - accuracy) * w_i / mean(w_1..w_i) * kappa_i)``, where ``kappa_i`` (clipped to
    [0.25, 4]) = (1 - accuracy) * (i - 1) / sum_{j < i} p_j corrects the running mean: the mean error
    probability over the questions actually asked stays at 1 - accuracy, so the overall error rate matches
    the independent model while the errors sit on confusable pairs. ``stats()``
    reports the realised and expected error rates.

Answers are deterministic: the same (seed, text, label) always gets the same draw.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from redline.core.judge_interface import JudgeContext, Verdict
from redline.errors import ConfigError

MODES = ("independent", "confusion-aware")
_SPEC = re.compile(r"^(simulated|simulated-hard):(0(?:\.\d+)?|1(?:\.0+)?)$")


class SimulatedExpert:
    """Ground-truth judge with seeded errors (evaluation only; implements the ``Judge`` protocol).

    Parameters
    ----------
    truth : mapping of str to str
        The true label of every text the judge may be asked about.
    accuracy : float
        Share of correct answers over the questions asked.
    mode : {"independent", "confusion-aware"}
    label_embeddings : mapping of str to ndarray, optional
        Needed by ``confusion-aware``: a vector per label (cosine similarity decides confusability).
    seed : int
    sharpness : float
        How strongly errors concentrate on similar labels (confusion-aware only).
    """

    def __init__(
        self,
        truth: Mapping[str, str],
        accuracy: float = 0.95,
        mode: str = "independent",
        label_embeddings: Mapping[str, NDArray[np.floating]] | None = None,
        seed: int = 0,
        sharpness: float = 8.0,
    ) -> None:
        if not 0.0 <= accuracy <= 1.0:
            raise ConfigError(f"simulated expert accuracy must lie in [0, 1], got {accuracy}")
        if mode not in MODES:
            raise ConfigError(f"simulated expert mode must be one of {', '.join(MODES)}, got {mode!r}")
        if mode == "confusion-aware" and not label_embeddings:
            raise ConfigError("the confusion-aware simulated expert needs label embeddings")
        self.truth = truth
        self.accuracy = accuracy
        self.mode = mode
        self.seed = seed
        self.sharpness = sharpness
        self._labels: dict[str, int] = {}
        self._E: NDArray[np.float64] = np.zeros((0, 0))
        self._nearest: NDArray[np.float64] = np.zeros(0)
        if label_embeddings:
            names = list(label_embeddings)
            E = np.stack([np.asarray(label_embeddings[n], dtype=np.float64) for n in names])
            E /= np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
            self._labels = {n: i for i, n in enumerate(names)}
            self._E = E
            S = E @ E.T
            np.fill_diagonal(S, -np.inf)
            self._nearest = S.max(axis=1) if len(names) > 1 else np.zeros(1)
        self.calls = 0
        self.errors = 0
        self._weight_sum = 0.0
        self._p_sum = 0.0

    @classmethod
    def from_spec(
        cls,
        spec: str,
        truth: Mapping[str, str],
        label_embeddings: Mapping[str, NDArray[np.floating]] | None = None,
        seed: int = 0,
    ) -> SimulatedExpert:
        """Build from ``"simulated:0.95"`` (independent) or ``"simulated-hard:0.95"`` (confusion-aware)."""
        m = _SPEC.match(spec.strip())
        if not m:
            raise ConfigError(
                f"judge spec {spec!r} not understood: expected simulated:<accuracy> "
                "or simulated-hard:<accuracy>"
            )
        mode = "independent" if m.group(1) == "simulated" else "confusion-aware"
        return cls(truth, float(m.group(2)), mode, label_embeddings, seed)

    def _weight(self, true_label: str, label: str) -> float:
        i, j = self._labels.get(true_label), self._labels.get(label)
        if i is None or j is None:
            return 1.0
        s = float(self._nearest[i]) if i == j else float(self._E[i] @ self._E[j])
        return math.exp(self.sharpness * (s - 1.0))

    def _draw(self, text: str, label: str) -> float:
        digest = hashlib.sha256(f"{self.seed}\x1f{text}\x1f{label}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2.0**64

    def judge_sync(self, text: str, label: str, context: JudgeContext | None = None) -> Verdict:
        """Answer "is ``text`` an example of ``label``?" from the ground truth, with seeded errors."""
        true_label = self.truth.get(text)
        if true_label is None:
            return Verdict(valid=None, reason="simulated expert: text not in ground truth")
        self.calls += 1
        target = 1.0 - self.accuracy
        if self.mode == "independent":
            p_err = target
        else:
            w = self._weight(true_label, label)
            self._weight_sum += w
            relative = w * self.calls / self._weight_sum  # weight relative to the mean so far
            # proportional correction keeps the running mean of p_err at the target
            kappa = 1.0 if self.calls == 1 else target * (self.calls - 1) / max(self._p_sum, 1e-12)
            p_err = min(0.5, target * relative * min(max(kappa, 0.25), 4.0))
        self._p_sum += p_err
        correct = true_label == label
        wrong = self._draw(text, label) < p_err
        self.errors += int(wrong)
        answer = correct != wrong
        return Verdict(
            valid=answer,
            p_yes=1.0 - p_err if answer else p_err,
            reason=f"simulated {self.mode} expert ({'error' if wrong else 'correct'})",
            extra={"p_error": p_err},
        )

    async def judge(self, text: str, label: str, context: JudgeContext) -> Verdict:
        """Async form of :meth:`judge_sync` (the ``Judge`` protocol)."""
        return self.judge_sync(text, label, context)

    def stats(self) -> dict[str, Any]:
        """Calls, realised error rate and expected error rate over the questions asked so far."""
        n = max(self.calls, 1)
        return {
            "mode": self.mode,
            "accuracy": self.accuracy,
            "calls": self.calls,
            "errors": self.errors,
            "error_rate": self.errors / n,
            "expected_error_rate": self._p_sum / n,
        }
