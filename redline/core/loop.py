"""The recursive judge loop (R.E.D. steps 4-5) over an unlabelled pool.

Each round: score the pending pool texts, rank them by uncertainty, ask the judge about the most
uncertain ones within the round's share of the budget, walking each text's candidates with the same
:class:`~redline.core.candidate_walk.CandidateWalk` as the stream (best first; a "no" moves to the next;
labels once rejected are never offered again; a judge failure leaves the text pending), add
judge-validated texts to the training set (only the affected subsets retrain), and record per-round
metrics. Stop rules that work with overconfident models:
the budget is spent, predictions stopped changing between rounds (``min_change``), or the judge confirmed
nearly every first candidate of the round (``stop_yes_rate``: the most uncertain texts are already right).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from redline.core.candidate_walk import CandidateWalk, Outcome
from redline.core.classifier import RedClassifier
from redline.core.config import LoopConfig
from redline.core.judge_interface import BlockingJudge, JudgeContext

PENDING, VALIDATED, UNRESOLVED = 0, 1, 2


@dataclass
class LoopState:
    """Where every pool text stands."""

    status: NDArray[np.int8]
    label: list[str | None]
    rejected: list[set[str]]
    judge_calls: int = 0
    rounds: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = ""


class RecursiveLoop:
    """Run rounds of predict → judge → learn over a pool.

    Parameters
    ----------
    model : RedClassifier
        A fitted classifier; it learns from validated texts in place.
    judge : BlockingJudge
        Answers with ``judge_sync(text, label, context)`` (the simulated expert does).
    config : LoopConfig
    uncertainty : str
        "entropy" or "margin": what ranks texts for the judge.
    descriptions : mapping, optional
        Label descriptions passed to the judge.
    """

    def __init__(
        self,
        model: RedClassifier,
        judge: BlockingJudge,
        config: LoopConfig,
        uncertainty: str = "margin",
        descriptions: Mapping[str, str] | None = None,
    ) -> None:
        self.model = model
        self.judge = judge
        self.config = config
        self.uncertainty = uncertainty
        self.descriptions = dict(descriptions or {})

    def run(
        self,
        X: NDArray[np.floating],
        texts: Sequence[str],
        on_round: Callable[[LoopState, NDArray[np.str_]], Mapping[str, Any]] | None = None,
    ) -> LoopState:
        """Run the loop over pool embeddings ``X`` / ``texts``; ``on_round(state, pool_predictions)`` may
        return extra metrics (e.g. test accuracy) for each round's record (round 0 = before judging)."""
        cfg = self.config
        n = len(texts)
        texts = list(texts)
        state = LoopState(np.zeros(n, dtype=np.int8), [None] * n, [set() for _ in range(n)])
        total_budget = math.floor(cfg.budget * n)
        per_round = max(1, math.ceil(total_budget / cfg.rounds_planned))
        classes = self.model.classes_
        prev_pred: NDArray[np.str_] | None = None
        calls_per_text = 1.3
        for r in range(cfg.max_rounds + 1):
            t0 = time.perf_counter()
            scores = self.model.predict_scores(X, texts)
            proba = scores.proba.copy()
            pred = classes[np.argmax(proba, axis=1)]
            pending = np.flatnonzero(state.status == PENDING)
            changed = (
                float(np.mean(pred[pending] != prev_pred[pending]))
                if prev_pred is not None and pending.size
                else 1.0
            )
            prev_pred = pred
            unc = scores.uncertainty(self.uncertainty)
            record: dict[str, Any] = {
                "round": r,
                "judge_calls_total": state.judge_calls,
                "validated_total": int((state.status == VALIDATED).sum()),
                "unresolved_total": int((state.status == UNRESOLVED).sum()),
                "pending": int(pending.size),
                "changed": changed if r > 0 else None,
                "uncertain_share": float(np.mean(unc[pending] >= cfg.accept_below)) if pending.size else 0.0,
            }
            if on_round is not None:
                record.update(on_round(state, pred))
            state.rounds.append(record)
            if r > 0 and state.rounds[-2].get("yes_rate_first") is not None:
                if state.rounds[-2]["yes_rate_first"] >= cfg.stop_yes_rate:
                    state.stop_reason = "judge confirmed nearly every first candidate"
                    break
            if r > 0 and changed < cfg.min_change:
                state.stop_reason = "predictions stopped changing"
                break
            budget_left = total_budget - state.judge_calls
            if budget_left <= 0:
                state.stop_reason = "budget spent"
                break
            if pending.size == 0:
                state.stop_reason = "pool exhausted"
                break
            if r == cfg.max_rounds:
                state.stop_reason = "max rounds"
                break
            round_budget = min(budget_left, per_round)
            order = pending[np.argsort(-unc[pending], kind="stable")]
            stats = self._judge_round(state, X, texts, proba, order, round_budget, calls_per_text)
            if stats["texts"]:
                calls_per_text = max(1.0, stats["calls"] / stats["texts"])
            newly = stats["validated_idx"]
            retrained: list[int] = []
            if newly:
                idx = np.asarray(newly)
                self.model.learn(X[idx], [texts[i] for i in newly], [str(state.label[i]) for i in newly])
                retrained = list(getattr(self.model, "last_retrained_", []))
            record.update(
                judged=stats["texts"],
                judge_calls=stats["calls"],
                yes_rate=stats["yes"] / max(stats["calls"], 1),
                yes_rate_first=stats["yes_first"] / max(stats["texts"], 1),
                validated=len(newly),
                unresolved=stats["unresolved"],
                judge_failures=stats["failures"],
                retrained_subsets=len(retrained),
                seconds=time.perf_counter() - t0,
            )
        return state

    def _judge_round(
        self,
        state: LoopState,
        X: NDArray[np.floating],
        texts: Sequence[str],
        proba: NDArray[np.floating],
        order: NDArray[np.intp],
        round_budget: int,
        calls_per_text: float,
    ) -> dict[str, Any]:
        cfg = self.config
        walk = CandidateWalk(cfg.max_candidates)
        classes = self.model.classes_.tolist()
        spent = texts_judged = yes = yes_first = unresolved = failures = 0
        validated: list[int] = []
        cursor = 0
        while spent < round_budget and cursor < order.size:
            take = max(1, int((round_budget - spent) / calls_per_text))
            batch = order[cursor : cursor + take].tolist()
            cursor += len(batch)
            rejected_before = {i: len(state.rejected[i]) for i in batch}
            ranked = walk.candidates(proba[batch], classes, [state.rejected[i] for i in batch])
            cands = dict(zip(batch, ranked, strict=True))
            answers: dict[int, list[bool | None]] = {i: [] for i in batch}
            texts_judged += len(batch)
            active = []
            for i in batch:
                if walk.step(cands[i], [], rejected_before[i]).outcome is Outcome.UNRESOLVED:
                    state.status[i] = UNRESOLVED  # every label was rejected in earlier rounds
                    unresolved += 1
                else:
                    active.append(i)
            while active and spent < round_budget:
                ask = active[: round_budget - spent]
                questions = []
                for i in ask:
                    lab = cands[i][len(answers[i])]
                    ctx = JudgeContext(
                        self.descriptions.get(lab, ""),
                        self.model.nearest_examples(X[i], lab, cfg.context_examples),
                    )
                    questions.append((texts[i], lab, ctx))
                verdicts = [self.judge.judge_sync(t, lab, ctx) for t, lab, ctx in questions]
                spent += len(ask)
                state.judge_calls += len(ask)
                still = []
                for i, (_, lab, _), v in zip(ask, questions, verdicts, strict=True):
                    answers[i].append(v.valid)
                    step = walk.step(cands[i], answers[i], rejected_before[i])
                    if step.outcome.labelled:
                        yes += 1
                        yes_first += int(step.outcome is Outcome.VALIDATED)
                        state.status[i] = VALIDATED
                        state.label[i] = lab
                        validated.append(i)
                    elif step.outcome is Outcome.JUDGE_FAILED:
                        failures += 1  # not a "no": the text stays pending
                    else:
                        state.rejected[i].add(lab)
                        if step.outcome is Outcome.UNRESOLVED:
                            state.status[i] = UNRESOLVED
                            unresolved += 1
                        else:
                            still.append(i)
                active = still
        return {
            "texts": texts_judged,
            "calls": spent,
            "yes": yes,
            "yes_first": yes_first,
            "unresolved": unresolved,
            "failures": failures,
            "validated_idx": validated,
        }
