"""Shifting streams over CLINC150 for ``bench_drift.py``: held-back intents, a seed model, scenarios.

All texts of CLINC150 (train, val and test, 150 per intent) with cached MiniLM embeddings
(``engine_data.embed``), plus its 1,200 out-of-scope texts. Some intents are held back from the seed
(30 labelled texts per known intent, official train split) and from the stream before the shift:

- *concept shift*: from text ``shift`` on, the texts of ``n_concept`` known labels L are replaced by
  texts of held-back intents H that the ground truth files under L (L's meaning widened). L is, of
  the known labels in the top 5 candidates of H's texts, the one most often there besides the model's
  usual top-1 label for them (so the judge can correct the model, but the model is mostly wrong);
- *new intent*: from ``shift`` on, texts of ``n_new`` held-back intents arrive that no label covers;
- *out of scope*: from ``shift`` on, CLINC150's out-of-scope texts arrive (truth: no label);
- *stationary*: no shift (the false-alarm control).

A stream draws each position's label from weights (the concept-shift labels L, in that scenario and
the stationary control, and the arriving intents are more frequent than the rest, so that a shift moves
a visible share of the traffic) and takes that label's next unused text: no text is seen twice (a label
whose texts are all used is no longer drawn).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_data import DATA, embed

OOS = "oos"
SCENARIOS = ("stationary", "concept", "new_intent", "oos")


@dataclass
class Corpus:
    """Every CLINC150 text (in-scope then out-of-scope), its label and embedding; ``train`` marks the
    official train split (the seed comes from it)."""

    texts: list[str]
    labels: np.ndarray
    X: np.ndarray
    train: np.ndarray

    @classmethod
    def load(cls) -> Corpus:
        raw = json.loads((DATA / "clinc150" / "data_full.json").read_text())
        texts: list[str] = []
        labels: list[str] = []
        train: list[bool] = []
        blocks = []
        for split in ("train", "val", "test"):
            t = [a for a, _ in raw[split]]
            blocks.append(embed(t))
            texts += t
            labels += [b for _, b in raw[split]]
            train += [split == "train"] * len(t)
        oos = [a for s in ("oos_train", "oos_val", "oos_test") for a, _ in raw[s]]
        blocks.append(embed(oos))
        texts += oos
        labels += [OOS] * len(oos)
        train += [False] * len(oos)
        return cls(texts, np.asarray(labels), np.vstack(blocks).astype(np.float32), np.asarray(train))


@dataclass
class Setup:
    """Which intents are known, held back, and where the seed comes from."""

    known: list[str]
    concept_new: list[str]  # held-back intents H of the concept shift
    new_intents: list[str]  # held-back intents that arrive unlabelled
    seed_rows: np.ndarray
    concept_of: dict[str, str] = field(default_factory=dict)  # H -> L (filled once a model exists)


def make_setup(corpus: Corpus, n_concept: int, n_new: int, n_seed: int, seed: int) -> Setup:
    rng = np.random.default_rng(seed)
    intents = sorted(set(corpus.labels.tolist()) - {OOS})
    held = rng.choice(intents, n_concept + n_new, replace=False).tolist()
    known = [c for c in intents if c not in held]
    seed_rows: list[int] = []
    for label in known:
        rows = np.flatnonzero((corpus.labels == label) & corpus.train)
        seed_rows += rng.permutation(rows)[:n_seed].tolist()
    return Setup(known, held[:n_concept], held[n_concept:], np.asarray(sorted(seed_rows)))


def pick_concept_labels(corpus: Corpus, setup: Setup, top5: dict[str, list[list[str]]]) -> None:
    """For each concept intent H (``top5[H]``: the model's top-5 candidates of each of its texts), the
    known label L that widens to cover it: most often among the candidates, not the usual top-1."""
    taken: set[str] = set()
    for h in setup.concept_new:
        first = [row[0] for row in top5[h]]
        usual = max(set(first), key=first.count)
        counts: dict[str, int] = {}
        for row in top5[h]:
            for label in row[1:]:
                counts[label] = counts.get(label, 0) + 1
        ranked = sorted(counts, key=lambda lab: (-counts[lab], lab))
        setup.concept_of[h] = next(lab for lab in ranked if lab != usual and lab not in taken)
        taken.add(setup.concept_of[h])


@dataclass(frozen=True)
class Stream:
    """Rows of the corpus in stream order and the truth of each (None: no label applies)."""

    rows: np.ndarray
    truth: list[str | None]
    shift: int | None
    affected: tuple[str, ...]  # labels whose texts change (concept: L; new intent: the new intents)


def make_stream(
    corpus: Corpus, setup: Setup, scenario: str, length: int, shift: int, weight: float, seed: int
) -> Stream:
    """A stream of ``length`` texts; the shift (if any) at ``shift``; frequent labels weigh ``weight``
    times the others."""
    if scenario not in SCENARIOS:
        raise SystemExit(f"unknown scenario {scenario!r}: expected one of {', '.join(SCENARIOS)}")
    rng = np.random.default_rng((seed, SCENARIOS.index(scenario)))
    seed_set = set(setup.seed_rows.tolist())
    queues: dict[str, list[int]] = {}
    for label in [*setup.known, *setup.concept_new, *setup.new_intents, OOS]:
        rows = [r for r in np.flatnonzero(corpus.labels == label).tolist() if r not in seed_set]
        queues[label] = rng.permutation(rows).tolist()
    # the concept-shift labels are frequent in that scenario and its stationary control
    frequent = set(setup.concept_of.values()) if scenario in ("concept", "stationary") else set()
    base = {lab: (weight if lab in frequent else 1.0) for lab in setup.known}
    after = dict(base)
    replace: dict[str, str] = {}
    if scenario == "concept":
        replace = {low: h for h, low in setup.concept_of.items()}
    elif scenario == "new_intent":
        after.update({h: weight for h in setup.new_intents})
    elif scenario == "oos":
        after[OOS] = 4 * weight
    rows: list[int] = []
    truth: list[str | None] = []
    for i in range(length):
        weights = after if scenario != "stationary" and i >= shift else base
        names = [n for n in weights if queues[replace.get(n, n) if i >= shift else n]]
        if not names:
            raise SystemExit(f"stream of {length} runs out of texts: lower --length")
        p = np.asarray([weights[n] for n in names])
        label = names[int(rng.choice(len(names), p=p / p.sum()))]
        source = replace.get(label, label) if i >= shift else label
        rows.append(queues[source].pop())
        truth.append(None if source == OOS else label)
    affected: tuple[str, ...] = ()
    if scenario == "concept":
        affected = tuple(sorted(frequent))
    elif scenario == "new_intent":
        affected = tuple(setup.new_intents)
    return Stream(np.asarray(rows), truth, None if scenario == "stationary" else shift, affected)
