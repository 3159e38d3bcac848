"""What ``make demo`` streams: which classes it holds back, and the two segments that change the stream.

Three CLINC150 intents are held back from the seed set, so the deployment starts without them:

- the **added** class: half its test texts arrive before it exists, then the operator adds it
  (``redline control add-label``) and the other half arrive after;
- the **shifted** intent: from the *concept-shift* segment on, its texts arrive and the expert (the
  simulated judge's ground truth) files them under a known label, the **widened** one (that label's
  meaning grew, e.g. ``cancel`` now also covers cancelling a reservation). The model ranks them under
  another label first; the judge rejects it and confirms the widened label lower in the list, and the
  drift monitor sees the share of corrected texts (and of rejected top candidates) rise: a ``drift``
  event;
- the **new intent**: from the *new-intent* segment on, its texts arrive and no label covers them; the
  judge rejects every candidate, the unresolved texts cluster: a ``new_label_suggested`` event. Its
  texts have no right label, so they are left out of the accuracy figures.

The shifted intent and its widened label, and the new intent, are picked by ``--seed`` from short lists
measured on CLINC150 (a model fitted without them ranks the widened label among the top 5 of
most shifted texts; no known label is near the new intent, so the model is unsure of its texts and they
reach the judge); the added class is drawn from the rest. Each segment mixes its texts into the
ordinary stream: one in two in the concept shift, one in three for the new intent.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from redline.adapters.jsonl_files import Example, read_examples, read_labels, write_examples, write_labels
from redline.errors import ConfigError

#: (shifted intent, widened label): a model fitted without the first (and the new intents) is unsure of
#: 22 of its 30 test texts and ranks the second among its top 5 below another label for 17 of them
#: (a correction the judge can make; the other pairs measured, e.g. cancel_reservation -> cancel, leave
#: a third of the texts with no fitting candidate, and those would be suggested as a new label too)
CONCEPT_SHIFTS = (("change_user_name", "user_name"),)
#: intents no other label covers: a model fitted without them is uncertain of 97-100 % of their texts
#: (above the 0.8 quantile of its held-out uncertainties), and their texts form one tight cluster
NEW_INTENTS = ("tire_change", "meaning_of_life", "spending_history")


@dataclass(frozen=True)
class Scenario:
    """The demo's held-back classes (see the module docstring)."""

    added: str
    shifted: str
    widened: str
    new_intent: str

    @property
    def held_back(self) -> tuple[str, str, str]:
        """The intents the deployment starts without."""
        return (self.added, self.shifted, self.new_intent)


def pick_scenario(labels: Sequence[str], seed: int) -> Scenario:
    """The scenario of ``seed`` over a data set's ``labels`` (CLINC150's)."""
    known = set(labels)
    rng = random.Random(seed)
    shifts = [(s, w) for s, w in CONCEPT_SHIFTS if s in known and w in known]
    news = [n for n in NEW_INTENTS if n in known]
    if not shifts or not news:
        raise ConfigError("the demo's drift scenario needs CLINC150 (--dataset clinc150)")
    shifted, widened = rng.choice(shifts)
    new_intent = rng.choice(news)
    added = rng.choice(sorted(known - {shifted, widened, new_intent}))
    return Scenario(added, shifted, widened, new_intent)


def hold_back(data: Path, scenario: Scenario, add_examples: int) -> tuple[Path, Path, Path]:
    """Take the held-back intents out of the seed set and the labels file; returns the two reduced files
    and a file of ``add_examples`` of the added class's seed texts (what the operator sends with
    ``add_label``)."""
    seed_set = read_examples(data / "seed.jsonl")
    descriptions = read_labels(data / "labels.jsonl")
    held = set(scenario.held_back)
    mine = [e for e in seed_set if e.label == scenario.added][:add_examples]
    write_examples(data / "seed_without.jsonl", [e for e in seed_set if e.label not in held])
    write_labels(data / "labels_without.jsonl", {k: v for k, v in descriptions.items() if k not in held})
    write_examples(data / "held_back.jsonl", [Example(e.text, scenario.added) for e in mine])
    return data / "seed_without.jsonl", data / "labels_without.jsonl", data / "held_back.jsonl"


@dataclass(frozen=True)
class Segment:
    """A stretch of the stream from position ``start`` on that carries ``count`` texts of ``intent`` (at
    ``positions``), filed by the expert under ``labels`` (none: no label covers them)."""

    name: str
    intent: str
    start: int
    count: int
    what: str
    positions: frozenset[int] = frozenset()
    labels: tuple[str, ...] = ()


@dataclass
class DemoStream:
    """The demo's texts in stream order with the expert's label of each (``truth``; the new intent's
    texts are labelled with the new intent, which no model label matches), where the three parts end
    (before ``add_label``, while it runs, after it), the segments, and the positions whose truth no
    label covers (left out of accuracy)."""

    examples: list[Example]
    first_end: int
    second_end: int
    segments: list[Segment] = field(default_factory=list)
    uncovered: frozenset[int] = frozenset()


def _mix(special: Sequence[Example], ordinary: list[Example], every: int) -> list[Example]:
    """``special`` mixed into ``ordinary`` (consumed from its front): one in ``every``."""
    out: list[Example] = []
    for e in special:
        out.append(e)
        for _ in range(every - 1):
            if ordinary:
                out.append(ordinary.pop(0))
    return out


def build_stream(
    test: Sequence[Example],
    pool: Sequence[Example],
    scenario: Scenario,
    texts: int | None,
    seed: int,
    *,
    shifted: int = 60,
    new: int = 45,
    lead_in: int = 150,
    every: int = 3,
    shift_every: int = 2,
) -> DemoStream:
    """The stream (see the module docstring): the first half of ``texts`` ordinary test texts (all when
    None) and half the added class's; then, while ``add_label`` runs, ``lead_in`` ordinary texts, the
    concept-shift segment (``shifted`` texts of the shifted intent, test split first, then pool, filed
    under the widened label), the new-intent segment (``new`` of its texts, the same way) and the
    other ordinary texts; then the added class's other half."""
    rng = random.Random(seed)
    test = list(test)
    rng.shuffle(test)
    ordinary = [e for e in test if e.label not in scenario.held_back]
    ordinary = ordinary if texts is None else ordinary[:texts]
    added = [e for e in test if e.label == scenario.added]

    def texts_of(intent: str, n: int) -> list[Example]:  # the test split's first, then the pool's
        extra = [e for e in pool if e.label == intent]
        rng.shuffle(extra)
        return ([e for e in test if e.label == intent] + extra)[:n]

    moved = [Example(e.text, scenario.widened) for e in texts_of(scenario.shifted, shifted)]
    unknown = texts_of(scenario.new_intent, new)
    half = len(ordinary) // 2
    early, late = added[: len(added) // 2], added[len(added) // 2 :]
    first = [*ordinary[:half], *early]
    rest = ordinary[half:]
    second = rest[:lead_in]
    rest = rest[lead_in:]
    concept_start = len(first) + len(second)
    second += _mix(moved, rest, shift_every)
    new_start = len(first) + len(second)
    second += _mix(unknown, rest, every)
    second += rest
    examples = [*first, *second, *late]
    moved_texts = {e.text for e in moved}
    shifted_at = frozenset(i for i in range(concept_start, new_start) if examples[i].text in moved_texts)
    uncovered = frozenset(
        i for i, e in enumerate(examples) if i >= new_start and e.label == scenario.new_intent
    )
    segments = [
        Segment("concept shift", scenario.shifted, concept_start, len(moved),
                f"{len(moved)} texts of {scenario.shifted!r} that the expert now files under "
                f"{scenario.widened!r}, one text in {shift_every}", shifted_at, (scenario.widened,)),
        Segment("new intent", scenario.new_intent, new_start, len(unknown),
                f"{len(unknown)} texts of {scenario.new_intent!r}, which no label covers, one text in "
                f"{every}", uncovered),
    ]  # fmt: skip
    return DemoStream(examples, len(first), len(first) + len(second), segments, uncovered)


def write_judge_truth(path: Path, stream: DemoStream) -> Path:
    """The simulated expert's ground truth: every streamed text with the expert's label."""
    write_examples(path, stream.examples)
    return path
