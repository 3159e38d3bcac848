"""What ``make demo`` prints: a live line while texts stream, and the summary at the end."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redline.commands.demo_scenario import Segment
from redline.schemas import DeadLetter, Event, LabelResult
from redline.streams.result_summary import STATUSES, ResultSummary

#: the drift monitor's event kinds (redline.events)
WATCH_KINDS = ("drift", "recovered", "new_label_suggested")


def fmt(value: float | None) -> str:
    """A rate with three decimals, or "-" when there is none."""
    return "-" if value is None else f"{value:.3f}"


def version_number(version: str) -> int:
    """The ordering number of a model version (``v42`` -> 42; anything else -> -1)."""
    return int(version[1:]) if version[:1] == "v" and version[1:].isdigit() else -1


@dataclass(frozen=True)
class Watched:
    """A drift / recovered / new-label event and the results the demo had read when it came."""

    event: Event
    results: int


@dataclass
class DemoRun:
    """What one demo run produced, for its summary."""

    summary: ResultSummary
    truth: Mapping[str, str]
    sent: int
    malformed: int
    held_back: str
    added: Event | None = None
    letters: list[DeadLetter] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    workers: list[dict[str, Any]] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    watched: list[Watched] = field(default_factory=list)


def held_back_line(run: DemoRun) -> str:
    """How the class added at run time was labelled before and after its ``add_label``."""
    label = run.held_back
    mine = [r for r in run.summary.results.values() if run.truth.get(r.id) == label]
    if run.added is None:
        return (
            f"added class {label!r}: its add_label command got no answer ({len(mine)} of its texts streamed)"
        )
    since = version_number(run.added.model_version or "")
    after = [r for r in mine if version_number(r.model_version) >= since]
    before = len(mine) - len(after)
    right = sum(r.label == label for r in after)
    share = f"{right}/{len(after)} = {right / len(after):.3f}" if after else "no texts yet"
    return (
        f"added class {label!r} at run time ({run.added.model_version}): labelled {label!r} in {share} "
        f"of its texts after that; {before} of its texts came earlier, when no label could fit them"
    )


def versions_lines(events: Sequence[Event]) -> list[str]:
    """The model versions as they were published, oldest first."""
    models = sorted(
        (e for e in events if e.kind == "model"), key=lambda e: version_number(e.model_version or "")
    )
    if not models:
        return ["  (no new version during the run)"]
    lines = [f"  {e.model_version}: {e.reason}" for e in models[:12]]
    if len(models) > 12:
        lines.append(f"  ... {len(models) - 12} more, up to {models[-1].model_version}")
    return lines


def event_line(e: Event) -> str:
    """One line for a drift, recovered or new-label-suggested event: labels, signal, before -> after;
    for a suggestion the proposed name, size and two typical texts."""
    d: dict[str, Any] = dict(e.details)
    labels = ", ".join(e.labels)
    if e.kind == "new_label_suggested":
        texts = "; ".join(repr(t) for t in list(d.get("texts", []))[:2])
        named = f" ({d['named_by']})" if d.get("named_by") else ""
        return (f"new_label_suggested {labels}{named}: {d.get('size')} unresolved texts, cohesion "
                f"{float(d.get('cohesion', 0.0)):.2f}, e.g. {texts}")  # fmt: skip
    if "before" in d and "after" in d:
        return (f"{e.kind} {labels}: {d.get('signal')} rate {float(d['before']):.2f} -> "
                f"{float(d['after']):.2f} ({d.get('scope')}, {d.get('evidence')} results)")  # fmt: skip
    return f"{e.kind} {labels}: {e.reason[:160]}"


def stream_position(text_id: str) -> int:
    """A demo text's position in the stream (its id ends with it: ``<run>-<position>``; -1 otherwise)."""
    tail = text_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def attribute(run: DemoRun, w: Watched) -> tuple[Segment | None, int]:
    """The segment an event is about, and how many texts from its start on had their result when the
    event came (results arrive roughly, not exactly, in stream order). A suggestion is about the
    segment most of its typical texts came from; a drift about the segment whose texts the model ranked
    under, or the expert filed under, most of the labels it names. None (and 0) when neither."""
    read = list(itertools.islice(run.summary.results.items(), w.results))
    scores = []
    for g in run.segments:
        if w.event.kind == "new_label_suggested":
            keys = {stream_position(str(k)) for k in w.event.details.get("keys") or []}  # type: ignore[union-attr]
            scores.append(len(keys & g.positions))
        else:
            tops = {
                r.candidates[0].label for i, r in read if r.candidates and stream_position(i) in g.positions
            }
            scores.append(len(set(w.event.labels) & (tops | set(g.labels))))
    if not scores or max(scores) == 0:
        return None, 0
    segment = run.segments[scores.index(max(scores))]
    return segment, sum(stream_position(i) >= segment.start for i, _ in read)


def watch_lines(run: DemoRun) -> list[str]:
    """The drift, recovered and new-label-suggested events of the run in the order they came, each with
    the segment it is about (:func:`attribute`) and its delay: the texts from that segment's start that had
    their result by then."""
    seen = run.watched or [Watched(e, 0) for e in run.events if e.kind in WATCH_KINDS]
    if not seen:
        return ["  (none: no label's signals moved, no cluster of unresolved texts grew large enough)"]
    lines = []
    for w in seen[:10]:
        segment, delay = attribute(run, w)
        after = f" [{delay} texts after the {segment.name} segment began]" if segment else ""
        lines.append(f"  {event_line(w.event)}{after}")
    if len(seen) > 10:
        lines.append(f"  ... {len(seen) - 10} more")
    return lines


def segment_lines(run: DemoRun) -> list[str]:
    """What each segment streamed, from which text."""
    return [f"  {g.name}: from text {g.start}, {g.what}" for g in run.segments]


def worker_lines(workers: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each worker's share of the texts, its model version and whether it led."""
    total = sum(int(w.get("texts", 0)) for w in workers) or 1
    return [
        f"  worker {i + 1}: {w.get('texts', 0)} texts ({int(w.get('texts', 0)) / total:.0%}), model "
        f"{w.get('model_version')}{', the leader (learns and publishes)' if w.get('leader') else ''}"
        for i, w in enumerate(workers)
    ]


def examples_lines(summary: ResultSummary, truth: Mapping[str, str]) -> list[str]:
    """One example result per status."""
    lines = []
    for status in STATUSES:
        picked: list[LabelResult] = [r for r in summary.results.values() if r.status == status][:1]
        for r in picked:
            cands = ", ".join(f"{c.label} {c.p:.2f}" for c in r.candidates[:3])
            lines.append(f"  [{status}] {r.text!r}")
            lines.append(f"      label {r.label} (truth {truth.get(r.id)}), model: {cands}")
            if r.judge is not None:
                asked = ", ".join(f"{a.label}? {'yes' if a.valid else 'no'}" for a in r.judge.attempts)
                lines.append(f"      judge ({r.judge.judge}): {asked}")
            if r.reason:
                lines.append(f"      reason: {r.reason}")
    return lines


def render(run: DemoRun) -> str:
    """The summary printed at the end of the demo."""
    s = run.summary
    acc = s.accuracy()
    rows = [
        "",
        "=== redline demo: summary ===",
        f"texts sent {run.sent} (+{run.malformed} malformed) | results {s.count} | duplicates {s.duplicates}"
        f" | dead letters {len(run.letters)}",
        "by status: " + ", ".join(f"{k} {s.statuses[k]}" for k in STATUSES),
        f"accuracy vs ground truth: model alone {fmt(acc['model'])} -> delivered {fmt(acc['delivered'])}"
        f" (unresolved count as wrong); precision of emitted labels {fmt(acc['precision'])}",
        f"judge calls {s.judge_calls} ({s.judge_calls / max(s.count, 1):.2f} per text)",
        held_back_line(run),
        "model versions published during the run:",
        *versions_lines(run.events),
        "segments that change the stream:",
        *segment_lines(run),
        "drift and suggested classes (redline.events), as they came:",
        *watch_lines(run),
        "workers (one consumer group; texts spread by partition):",
        *worker_lines(run.workers),
        f"throughput {s.throughput():.1f} texts/s end to end ({s.to_dict()['seconds']:.1f} s)",
        "examples:",
        *examples_lines(s, run.truth),
        "dead letters:",
        *[f"  offset {d.offset}: {d.reason}" for d in run.letters],
    ]
    return "\n".join(rows)


def summary_json(run: DemoRun) -> dict[str, Any]:
    """The summary as JSON-ready data (``summary.json``)."""
    label = run.held_back
    mine = [r for r in run.summary.results.values() if run.truth.get(r.id) == label]
    since = version_number(run.added.model_version or "") if run.added is not None else None
    after = [r for r in mine if since is not None and version_number(r.model_version) >= since]
    return {
        **run.summary.to_dict(),
        "dead_letters": len(run.letters),
        "held_back": label,
        "added_version": run.added.model_version if run.added is not None else None,
        "held_back_after": len(after),
        "held_back_accuracy_after": (sum(r.label == label for r in after) / len(after)) if after else None,
        "versions": [e.model_version for e in run.events if e.kind == "model"],
        "segments": [
            {"name": g.name, "intent": g.intent, "start": g.start, "texts": g.count, "labels": list(g.labels)}
            for g in run.segments
        ],
        "watch_events": [_watched_json(run, w) for w in run.watched],
        "workers": [{"texts": w.get("texts"), "leader": w.get("leader")} for w in run.workers],
    }


def _watched_json(run: DemoRun, w: Watched) -> dict[str, Any]:
    d = w.event.details
    segment, delay = attribute(run, w)
    keys = ("signal", "scope", "before", "after", "evidence", "size", "cohesion", "texts", "named_by")
    return {
        "kind": w.event.kind,
        "labels": list(w.event.labels),
        **{k: d[k] for k in keys if k in d},
        "reason": w.event.reason,
        "segment": segment.name if segment is not None else None,
        "texts_after_segment_began": delay if segment is not None else None,
    }
