"""Drift handling against a real broker and a real worker process (MiniLM embeddings, a real model).

- a concept shift (texts the model knows as ``balance`` now mean ``bill_balance`` to the judge) produces a
  ``drift`` event naming them, a relearn of the drifting labels, and a judge boost on the stats page;
- texts of an intent no label covers (CLINC150's ``bill_due``, held back from the model) end unresolved,
  become a ``new_label_suggested`` event, and its examples sent back as ``add_label`` make the class
  predicted.

Every text goes to the judge (fixed threshold 0, every label a candidate) and the simulated expert is
perfect, so the outcomes depend on the stream only.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from worker_processes import Fitted, fit_folder, log_tail, start_worker, stop, wait_for, wait_ready

from redline.adapters.jsonl_files import Example, write_examples
from redline.schemas import ControlCommand, Event, LabelResult, TextIn, decode, encode
from redline.streams.clients import Collected, collect, produce, text_messages
from redline.streams.settings import TopicNames

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

SHIFTED, INTO = "balance", "bill_balance"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Fitted, list[Example]]:
    """A model of 8 CLINC150 labels (``bill_due`` held back) and the texts the streams draw from."""
    from redline.adapters.bundled_datasets import load_dataset, split_dataset

    fitted = fit_folder(tmp_path_factory.mktemp("drift-fitted"), n_classes=8)
    split = split_dataset(load_dataset("clinc150"), seed_per_class=10, seed=0, max_classes=9)
    return fitted, list(split.pool) + list(split.test)


def _start(fitted: Fitted, bootstrap: str, tmp: Path, truth: list[Example], name: str, *extra: str):
    write_examples(tmp / f"{name}-truth.jsonl", truth)
    run = uuid.uuid4().hex[:8]
    prefix = f"{name}{run}."
    proc = start_worker(
        fitted, bootstrap, prefix, f"redline-{name}-{run}", tmp, name, "--judge", "simulated:1.0",
        "--judge-truth", str(tmp / f"{name}-truth.jsonl"), "--max-candidates", "8", *extra, threshold="0.0",
    )  # fmt: skip
    wait_ready(proc)
    wait_for(proc, lambda s: "monitor" in s["drift"], 120)  # the leader watches the results
    return proc, TopicNames.with_prefix(prefix), run


def _send_and_wait(bootstrap: str, topics: TopicNames, texts: list[TextIn], proc) -> list[LabelResult]:
    ids = {t.id for t in texts}
    asyncio.run(produce(bootstrap, topics.texts, text_messages(texts)))

    def done(g: Collected) -> bool:
        return ids <= {r.key.decode() for r in g.records[topics.labels]} or proc.poll() is not None

    got = asyncio.run(collect(bootstrap, [topics.labels], done, timeout_s=600))
    return [r for r in (decode(LabelResult, x.value) for x in got.records[topics.labels]) if r.id in ids]


def _events(bootstrap: str, topics: TopicNames, done, timeout_s: float = 120.0) -> list[Event]:
    def stop_when(g: Collected) -> bool:
        return done([decode(Event, r.value) for r in g.records[topics.events]])

    got = asyncio.run(collect(bootstrap, [topics.events], stop_when, timeout_s=timeout_s))
    return [decode(Event, r.value) for r in got.records[topics.events]]


def test_a_concept_shift_is_a_drift_event_and_its_labels_are_relearned(kafka_bootstrap, world, tmp_path):
    fitted, pool = world
    known = [e for e in pool if e.label != fitted.new_label]
    rng = random.Random(0)
    by_label: dict[str, list[Example]] = {}
    for e in known:
        by_label.setdefault(str(e.label), []).append(e)
    baseline = by_label[SHIFTED][:40] + by_label[INTO][:40]
    baseline += [e for label, es in by_label.items() if label not in (SHIFTED, INTO) for e in es[:15]]
    rng.shuffle(baseline)
    shifted = [replace(e, label=INTO) for e in by_label[SHIFTED][40:90]]  # "balance" now means INTO
    proc, topics, run = _start(fitted, kafka_bootstrap, tmp_path, baseline + shifted, "drift")
    try:
        texts = [TextIn(id=f"{run}-b{i}", text=e.text) for i, e in enumerate(baseline)]
        results = _send_and_wait(kafka_bootstrap, topics, texts, proc)
        assert len({r.id for r in results}) == len(texts)
        before = _events(kafka_bootstrap, topics, lambda es: False, timeout_s=3)
        assert not [e for e in before if e.kind == "drift"], [e.reason for e in before]
        texts = [TextIn(id=f"{run}-s{i}", text=e.text) for i, e in enumerate(shifted)]
        _send_and_wait(kafka_bootstrap, topics, texts, proc)

        def drifted_and_relearned(es: list[Event]) -> bool:
            return any(e.kind == "drift" for e in es) and any(
                e.kind == "model" and e.reason.startswith("relearned") for e in es
            )

        events = _events(kafka_bootstrap, topics, drifted_and_relearned)
        stats = wait_for(proc, lambda s: s["drift"]["events"] >= 1, 30)
    finally:
        code = stop(proc)
    drifts = [e for e in events if e.kind == "drift"]
    assert drifts, [(e.kind, e.reason) for e in events]
    assert {SHIFTED, INTO} & {label for e in drifts for label in e.labels}, [e.reason for e in drifts]
    first = drifts[0]
    assert first.details["after"] > first.details["before"] and first.model_version
    assert first.details["signal"] in ("rejection", "corrected", "unresolved", "uncertainty")
    relearned = [e for e in events if e.kind == "model" and e.reason.startswith("relearned")]
    assert relearned, [(e.kind, e.reason) for e in events]
    assert stats["drift"]["relearned"] > 0 and stats["drift"]["monitor"]["active"]
    assert set(stats["routing"]["boosted_labels"]) & {SHIFTED, INTO}
    assert code == 0
    # a new leader takes over the relearned model and learns on: the training data it rebuilds from the
    # examples topic is what the snapshot says its model includes (a relearn once broke that for good)
    restarted = time.time()
    proc = start_worker(
        fitted, kafka_bootstrap, f"drift{run}.", f"redline-drift-{run}", tmp_path, "drift-again",
        "--judge", "simulated:1.0", "--judge-truth", str(tmp_path / "drift-truth.jsonl"),
        "--max-candidates", "8", "--learn-every", "1", "--learn-min-interval", "0", threshold="0.0",
    )  # fmt: skip
    try:
        wait_ready(proc)
        wait_for(proc, lambda s: s["leader"], 60)
        texts = [TextIn(id=f"{run}-r{i}", text=e.text) for i, e in enumerate(baseline[:10])]
        _send_and_wait(kafka_bootstrap, topics, texts, proc)

        def learned_again(es: list[Event]) -> bool:
            return any(e.kind == "model" and e.reason.startswith("learned") and e.at > restarted for e in es)

        events = _events(kafka_bootstrap, topics, learned_again, timeout_s=90)
    finally:
        stop(proc)
    assert learned_again(events), [(e.kind, e.reason) for e in events if e.at > restarted]
    assert "round failed" not in log_tail(proc, 1_000_000)


def test_unknown_texts_are_suggested_as_a_label_that_add_label_makes_predicted(
    kafka_bootstrap, world, tmp_path
):
    fitted, pool = world
    rng = random.Random(1)
    new = [e for e in pool if e.label == fitted.new_label]
    known = [e for e in pool if e.label != fitted.new_label]
    rng.shuffle(known)
    first = known[:40] + new[:40]
    rng.shuffle(first)
    later = new[40:80]
    proc, topics, run = _start(
        fitted, kafka_bootstrap, tmp_path, first + later, "intent", "--new-intent-min-size", "8"
    )
    try:
        texts = [TextIn(id=f"{run}-a{i}", text=e.text) for i, e in enumerate(first)]
        _send_and_wait(kafka_bootstrap, topics, texts, proc)
        events = _events(kafka_bootstrap, topics, lambda es: any(e.kind == "new_label_suggested" for e in es))
        [suggestion, *_] = [e for e in events if e.kind == "new_label_suggested"]
        command = suggestion.details["command"]
        assert command["command"] == "add_label" and command["label"] == suggestion.labels[0]
        examples = command["examples"]
        assert len(examples) >= 8
        truth = {e.text: e.label for e in first}
        assert Counter(truth[t] for t in examples).most_common(1)[0][0] == fitted.new_label
        # the operator accepts it under the name they choose
        accept = ControlCommand(
            id=f"accept-{run}", command="add_label", label=fitted.new_label, examples=examples
        )
        asyncio.run(produce(kafka_bootstrap, topics.control, [(accept.id.encode(), encode(accept))]))
        events = _events(kafka_bootstrap, topics, lambda es: any(e.kind == "applied" for e in es))
        [applied] = [e for e in events if e.kind == "applied"]
        added = int(applied.model_version[1:])  # the label's version or a later one (learning may follow)
        wait_for(proc, lambda s: int(s["model_version"][1:]) >= added, 60)
        texts = [TextIn(id=f"{run}-n{i}", text=e.text) for i, e in enumerate(later)]
        results = _send_and_wait(kafka_bootstrap, topics, texts, proc)
    finally:
        code = stop(proc)
    top = Counter(r.candidates[0].label for r in results)
    assert top[fitted.new_label] > 0.6 * len(results), top
    assert sum(r.label == fitted.new_label for r in results) > 0.6 * len(results)
    assert code == 0
