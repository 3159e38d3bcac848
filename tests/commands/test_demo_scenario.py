"""What ``make demo`` streams (held-back classes, the concept-shift and new-intent segments) and how
its summary reports the drift and suggestion events, without a broker."""

from __future__ import annotations

import json

from redline.adapters.jsonl_files import Example, read_examples, read_labels
from redline.commands.demo_scenario import CONCEPT_SHIFTS, NEW_INTENTS, build_stream, hold_back, pick_scenario
from redline.commands.demo_summary import DemoRun, Watched, attribute, render, summary_json, watch_lines
from redline.schemas import Event, LabelResult
from redline.streams.result_summary import ResultSummary

LABELS = sorted({"cancel", "cancel_reservation", "user_name", "change_user_name", "new_card",
                 "replacement_card_duration", *NEW_INTENTS, *(f"known_{i}" for i in range(20))})  # fmt: skip


def _examples(per_label: int, tag: str) -> list[Example]:
    return [Example(f"{tag} {label} {j}", label) for label in LABELS for j in range(per_label)]


def test_the_scenario_is_seeded_and_holds_back_three_distinct_intents() -> None:
    one, again = pick_scenario(LABELS, 3), pick_scenario(LABELS, 3)
    assert one == again
    assert (one.shifted, one.widened) in CONCEPT_SHIFTS and one.new_intent in NEW_INTENTS
    assert len({*one.held_back, one.widened}) == 4
    assert {pick_scenario(LABELS, s).shifted for s in range(20)} == {s for s, _ in CONCEPT_SHIFTS}


def test_hold_back_leaves_the_three_intents_out_of_the_seed_and_labels(tmp_path) -> None:
    from redline.adapters.jsonl_files import write_examples, write_labels

    write_examples(tmp_path / "seed.jsonl", _examples(12, "seed"))
    write_labels(tmp_path / "labels.jsonl", {label: label.replace("_", " ") for label in LABELS})
    scenario = pick_scenario(LABELS, 0)
    seed, labels, added = hold_back(tmp_path, scenario, 10)
    assert not {e.label for e in read_examples(seed)} & set(scenario.held_back)
    assert scenario.widened in read_labels(labels) and not set(read_labels(labels)) & set(scenario.held_back)
    assert [e.label for e in read_examples(added)] == [scenario.added] * 10


def test_the_stream_has_a_concept_shift_then_a_new_intent_segment() -> None:
    scenario = pick_scenario(LABELS, 1)
    test, pool = _examples(30, "test"), _examples(70, "pool")
    stream = build_stream(
        test, pool, scenario, None, 1, shifted=45, new=30, lead_in=50, every=3, shift_every=2
    )
    concept, new = stream.segments
    examples = stream.examples
    moved = [e for e in examples if e.text.split()[1] == scenario.shifted]
    assert len(moved) == 45 and {e.label for e in moved} == {scenario.widened}  # the expert's label
    assert sum(e.text.startswith("pool") for e in moved) == 15  # the test split first, then the pool
    assert examples[concept.start].text.split()[1] == scenario.shifted
    assert concept.start == stream.first_end + 50 and new.start > concept.start
    in_concept = examples[concept.start : concept.start + 2 * 45]
    assert sum(e in moved for e in in_concept) == 45  # one in two
    in_new = examples[new.start : new.start + 3 * 30]
    assert sum(e.label == scenario.new_intent for e in in_new) == 30  # one in three
    unknown = [i for i, e in enumerate(examples) if e.label == scenario.new_intent]
    assert len(unknown) == 30 and min(unknown) == new.start and stream.uncovered == frozenset(unknown)
    added = [i for i, e in enumerate(examples) if e.label == scenario.added]
    assert sum(i < stream.first_end for i in added) == 15 and min(added[15:]) >= stream.second_end
    ordinary = [e for e in examples if e.label not in (*scenario.held_back, scenario.widened)]
    assert len({e.text for e in examples}) == len(examples) and ordinary


def _event(kind: str, labels: list[str], details: dict) -> Event:
    return Event(id=f"e-{kind}", kind=kind, subject=kind, labels=labels, details=details)


def _read(summary: ResultSummary, positions: list[int], top: str = "known_0") -> None:
    from redline.schemas import Candidate

    for i in positions:
        result = LabelResult(id=f"run-{i}", text=f"text {i}", label=None, status="unresolved",
                             confidence=0.1, candidates=[Candidate(top, 0.4)], model_version="v")  # fmt: skip
        summary.add(result)


def test_the_summary_lists_each_event_with_its_segment_and_delay() -> None:
    scenario = pick_scenario(LABELS, 1)
    stream = build_stream(_examples(30, "test"), _examples(70, "pool"), scenario, None, 1, lead_in=50)
    concept, new = stream.segments
    assert concept.labels == (scenario.widened,) and len(concept.positions) == 60
    assert new.positions == stream.uncovered and not new.labels
    summary = ResultSummary()
    # results arrive out of order: 40 of the texts from the concept shift on, one earlier text late;
    # the model ranks the shifted texts under "known_3"
    _read(summary, list(range(concept.start - 10)))
    _read(summary, list(range(concept.start, concept.start + 40)), top="known_3")
    _read(summary, [concept.start - 5])
    at_drift = summary.count
    _read(summary, list(range(concept.start + 40, new.start + 31)))
    drift = _event("drift", ["known_3"], {"signal": "rejection", "scope": "all", "before": 0.21,
                                          "after": 0.74, "evidence": 40})  # fmt: skip
    widened = _event("drift", [scenario.widened], {"signal": "corrected", "scope": "all", "before": 0.2,
                                                   "after": 0.6, "evidence": 30})  # fmt: skip
    unrelated = _event("drift", ["known_9"], {"signal": "uncertainty", "scope": "all", "before": 0.1,
                                              "after": 0.3, "evidence": 99})  # fmt: skip
    keys = [f"run-{i}" for i in sorted(new.positions)[:6]]
    suggested = _event("new_label_suggested", ["new_thing"], {"size": 9, "cohesion": 0.83, "keys": keys,
                       "texts": ["a text", "another"], "named_by": "words"})  # fmt: skip
    watched = [Watched(drift, at_drift), Watched(widened, summary.count), Watched(unrelated, summary.count),
               Watched(suggested, summary.count)]  # fmt: skip
    run = DemoRun(summary, {}, len(stream.examples), 3, scenario.added, segments=stream.segments,
                  watched=watched)  # fmt: skip
    assert attribute(run, watched[0]) == (concept, 40)
    lines = watch_lines(run)
    assert lines[0] == ("  drift known_3: rejection rate 0.21 -> 0.74 (all, 40 results) "
                        "[40 texts after the concept shift segment began]")  # fmt: skip
    assert lines[1].startswith(f"  drift {scenario.widened}: corrected") and "concept shift" in lines[1]
    assert lines[2] == "  drift known_9: uncertainty rate 0.10 -> 0.30 (all, 99 results)"  # no segment's
    assert "new_label_suggested new_thing (words): 9 unresolved texts" in lines[3]
    assert lines[3].endswith(f"[{new.start + 31 - new.start} texts after the new intent segment began]")
    assert "concept shift: from text" in render(run)
    written = json.loads(json.dumps(summary_json(run)))  # summary.json: plain JSON
    assert [g["name"] for g in written["segments"]] == ["concept shift", "new intent"]
    first, _, third, fourth = written["watch_events"]
    assert (first["segment"], first["texts_after_segment_began"], first["before"]) == (
        "concept shift",
        40,
        0.21,
    )
    assert third["segment"] is None
    assert (fourth["kind"], fourth["size"], fourth["segment"]) == ("new_label_suggested", 9, "new intent")
    assert watch_lines(DemoRun(ResultSummary(), {}, 0, 0, "x"))[0].startswith("  (none")
