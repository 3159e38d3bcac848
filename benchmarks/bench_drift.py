"""Drift on a shifting stream (issue 11): detection delay, false alarms, accuracy with handling on/off.

The stream is simulated offline with the objects a worker uses: ``StreamEngine.decide`` (the router
keeps the judge share), the candidate walk answered by the simulated expert (``simulated:0.95``),
learning of judge-confirmed texts in batches of 64 (``RedClassifier.update``, as the leader does), the
:class:`~redline.core.drift.DriftMonitor` on every result and the
:class:`~redline.core.new_intents.NewIntentDetector` on every unresolved text. Scenarios
(``drift_scenarios.py``): a stationary control, a concept shift, new intents, CLINC150's out-of-scope
texts. Drift handling *on*: a drift event boosts its labels' judge share to 1 for ``--boost-texts``
texts (``BudgetedRouter.boost``/``escalate``) and relearns their recent judge-confirmed examples at once
(``examples_to_relearn``); a new-label suggestion is accepted as an operator would, ``--operator-delay``
texts later, with the event's examples, named after their majority true intent (declined when that is
out of scope or a known label). *Off*: events are recorded, nothing is done.

Delivered accuracy: the delivered label (accepted, validated or corrected) equals the truth; an
unresolved text is right only when no label applies (out of scope). Prints JSON and writes
``benchmarks/results/drift.json`` and ``drift.png``.

    python benchmarks/bench_drift.py [--length 8000] [--shift 3000] [--judge-share 0.1] [--jobs 2]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one BLAS thread per process (see bench_engine.py)

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from drift_scenarios import OOS, Corpus, Setup, Stream, make_setup, make_stream, pick_concept_labels  # noqa: E402
from drift_sim import Run, simulate  # noqa: E402

from redline.core.classifier import RedClassifier  # noqa: E402
from redline.core.config import EngineConfig  # noqa: E402
from redline.core.drift_signals import DriftSettings  # noqa: E402
from redline.core.judge_budget import held_out_uncertainty, uncertainty_quantiles  # noqa: E402
from redline.core.new_intents import NewIntentSettings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
WINDOW = 1000  # texts per reported accuracy window
ROLL = 500  # texts per point of the plotted curves

_shared: dict[str, Any] = {}  # filled before the worker processes fork (read-only there)


@dataclass(frozen=True)
class Job:
    scenario: str
    handling: bool
    stream_seed: int = 0


def _fit(corpus: Corpus, setup: Setup, preset: str) -> tuple[RedClassifier, list[float]]:
    rows = setup.seed_rows
    texts = [corpus.texts[i] for i in rows.tolist()]
    y = corpus.labels[rows].tolist()
    config = EngineConfig.named(preset)
    model = RedClassifier(config).fit(corpus.X[rows], texts, y)
    held_out = held_out_uncertainty(
        lambda: RedClassifier(config), corpus.X[rows], texts, y, config.uncertainty
    )
    return model, uncertainty_quantiles(held_out)


def _run(job: Job) -> dict[str, Any]:
    from drift_sim import SimConfig

    from redline.judge.specs import simulated_expert

    corpus: Corpus = _shared["corpus"]
    setup: Setup = _shared["setup"]
    stream: Stream = _shared["streams"][(job.scenario, job.stream_seed)]
    args = _shared["args"]
    rows = stream.rows.tolist()
    truth_map = {
        corpus.texts[r]: (t if t is not None else OOS) for r, t in zip(rows, stream.truth, strict=True)
    }
    seed = setup.seed_rows
    judge = simulated_expert(
        args.judge, truth_map, corpus.X[seed], corpus.labels[seed].tolist(), seed=args.seed
    )
    cfg = SimConfig(
        handling=job.handling,
        judge_share=args.judge_share,
        boost_texts=args.boost_texts,
        operator_delay=args.operator_delay,
        drift=_shared["drift"],
        intents=_shared["intents"],
    )
    run = simulate(
        _shared["model"].copy(), _shared["quantiles"], corpus.X[rows], [corpus.texts[r] for r in rows],
        list(stream.truth), judge, cfg,
    )  # fmt: skip
    return _summary(job, stream, run)


def _mean(a: np.ndarray) -> float | None:
    return round(float(a.mean()), 4) if a.size else None


def _window(run: Run, start: int, stop: int) -> dict[str, Any]:
    return {
        "texts": [start, stop],
        "accuracy": _mean(run.correct[start:stop]),
        "judge_share": _mean(run.judged[start:stop]),
    }


def _summary(job: Job, stream: Stream, run: Run) -> dict[str, Any]:
    n = run.correct.size
    drifts = [e for e in run.events if e["kind"] == "drift"]
    out: dict[str, Any] = {
        "scenario": job.scenario,
        "handling": job.handling,
        "stream_seed": job.stream_seed,
        "texts": n,
        "accuracy": _mean(run.correct),
        "judge_share": _mean(run.judged),
        "escalated_share": _mean(run.escalated),
        "learned": run.learned,
        "model_updates": run.updates,
        "labels_at_end": run.classes,
        "seconds": round(run.seconds, 1),
        "events": run.events,
    }
    shift = stream.shift
    if shift is None:
        out["false_alarms"] = len(drifts)
        out["false_suggestions"] = sum(e["kind"] == "new_label_suggested" for e in run.events)
    else:
        out["false_alarms_before_shift"] = sum(e["at"] < shift for e in drifts)
        after = [e for e in drifts if e["at"] >= shift]
        out["detection_delay"] = after[0]["at"] - shift if after else None
        named = [e for e in after if set(e["labels"]) & set(_shared["watch"][job.scenario])]
        out["detection_delay_naming_affected"] = named[0]["at"] - shift if named else None
        found = {}
        for e in run.events:
            if e["kind"] == "new_label_suggested" and e["at"] >= shift and e["majority"] not in found:
                found[e["majority"]] = e["at"] - shift
        out["suggestion_delay"] = found
        before = _mean(run.correct[shift - WINDOW : shift]) or 0.0
        ends = np.arange(shift + ROLL, n + 1, 100)
        back = [int(e) for e in ends if run.correct[e - ROLL : e].mean() >= before - 0.01]
        out["recovered_after"] = back[0] - shift if back else None
        out["windows"] = {
            "before": _window(run, shift - WINDOW, shift),
            "after": [_window(run, w, w + WINDOW) for w in range(shift, n - WINDOW + 1, WINDOW)],
            "last": _window(run, n - WINDOW, n),
        }
    ends = np.arange(ROLL, n + 1, 100)
    out["curve"] = {
        "end": ends.tolist(),
        "accuracy": [round(float(run.correct[e - ROLL : e].mean()), 4) for e in ends],
        "judge_share": [round(float(run.judged[e - ROLL : e].mean()), 4) for e in ends],
    }
    return out


def _line(r: dict[str, Any]) -> str:
    """One run in one line (stderr)."""
    mode = "on " if r["handling"] else "off"
    head = f"{r['scenario']:>10} {mode}: accuracy {r['accuracy']}, judge {r['judge_share']}"
    if "windows" not in r:
        alarms = f"false alarms {r['false_alarms']}, suggestions {r['false_suggestions']}"
        return f"{head}, {alarms}, {r['seconds']} s"
    w = r["windows"]
    after = " ".join(f"{a['accuracy']:.3f}" for a in w["after"])
    return (
        f"{head}, before {w['before']['accuracy']}, after [{after}], back in {r['recovered_after']}, "
        f"delay {r['detection_delay']} "
        f"(naming affected {r['detection_delay_naming_affected']}), suggestions {r['suggestion_delay']}, "
        f"false alarms {r['false_alarms_before_shift']}, {r['seconds']} s"
    )


def _plot(runs: list[dict[str, Any]], shift: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = list(dict.fromkeys(r["scenario"] for r in runs))
    fig, axes = plt.subplots(
        2, len(scenarios), figsize=(4.6 * len(scenarios), 6.4), sharex=True, squeeze=False
    )
    marks = {"drift": ("^", "tab:red"), "recovered": ("v", "tab:green"),
             "new_label_suggested": ("*", "tab:purple"), "add_label": ("D", "black")}  # fmt: skip
    for col, scenario in enumerate(scenarios):
        acc, share = axes[0][col], axes[1][col]
        for r in (r for r in runs if r["scenario"] == scenario):
            style = "-" if r["handling"] else "--"
            name = "handling on" if r["handling"] else "handling off"
            if scenario == "stationary":
                name = f"stream {r['stream_seed']}"
            acc.plot(r["curve"]["end"], r["curve"]["accuracy"], style, label=name)
            share.plot(r["curve"]["end"], r["curve"]["judge_share"], style, label=name)
            if r["handling"] and r["stream_seed"] == 0:
                for kind, (marker, colour) in marks.items():
                    at = [e["at"] for e in r["events"] if e["kind"] == kind]
                    if at:
                        y = [0.81] * len(at)
                        acc.scatter(at, y, marker=marker, color=colour, label=kind, zorder=3)
        for ax in (acc, share):
            if scenario != "stationary":
                ax.axvline(shift, color="grey", linewidth=0.8)
        acc.set_title(scenario)
        acc.set_ylim(0.8, 1.0)
        share.set_ylim(0.0, 0.3)
        acc.set_ylabel(f"delivered accuracy (last {ROLL})")
        share.set_ylabel(f"judge share (last {ROLL})")
        share.set_xlabel("texts")
        acc.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--length", type=int, default=8000, help="texts per shifting stream")
    parser.add_argument("--shift", type=int, default=3000, help="position of the shift")
    parser.add_argument(
        "--stationary", type=int, default=8000, help="texts of each stationary control (as long as --length)"
    )
    parser.add_argument("--stationary-runs", type=int, default=3, help="stationary streams (seeds 0, 1, ...)")
    parser.add_argument("--judge", default="simulated:0.95")
    parser.add_argument("--judge-share", type=float, default=0.1)
    parser.add_argument("--preset", default="flat", help="EngineConfig preset of the seed model")
    parser.add_argument("--weight", type=float, default=4.0, help="traffic weight of the shifting labels")
    parser.add_argument("--concept-labels", type=int, default=8, help="labels whose meaning widens")
    parser.add_argument("--boost-texts", type=int, default=1500)
    parser.add_argument("--operator-delay", type=int, default=300)
    parser.add_argument("--scenarios", default="stationary,concept,new_intent,oos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "drift.json")
    args = parser.parse_args()
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    corpus = Corpus.load()
    setup = make_setup(corpus, n_concept=args.concept_labels, n_new=3, n_seed=30, seed=args.seed)
    model, quantiles = _fit(corpus, setup, args.preset)
    fit_s = time.perf_counter() - t0
    held = np.flatnonzero(np.isin(corpus.labels, [*setup.concept_new, *setup.new_intents, OOS]))
    scores = model.predict_scores(corpus.X[held], [corpus.texts[i] for i in held.tolist()])
    classes = np.asarray(model.classes_)
    top5 = classes[np.argsort(-scores.proba, axis=1)[:, :5]]
    by_intent: dict[str, list[list[str]]] = {}
    for row, label in zip(top5.tolist(), corpus.labels[held].tolist(), strict=True):
        by_intent.setdefault(label, []).append(row)
    pick_concept_labels(corpus, setup, by_intent)
    scenarios = args.scenarios.split(",")
    jobs = [
        Job(s, h, k)
        for s in scenarios
        for h in ((True,) if s == "stationary" else (True, False))
        for k in (range(args.stationary_runs) if s == "stationary" else (0,))
    ]
    streams = {
        (j.scenario, j.stream_seed): make_stream(
            corpus, setup, j.scenario, args.stationary if j.scenario == "stationary" else args.length,
            args.shift, args.weight, args.seed + j.stream_seed,
        )
        for j in jobs
    }  # fmt: skip
    first = {label: {row[0] for row in rows} for label, rows in by_intent.items()}
    watch = {
        "stationary": set(),
        "concept": set(setup.concept_of.values()).union(*(first[h] for h in setup.concept_new)),
        "new_intent": set().union(*(first[h] for h in setup.new_intents)),
        "oos": first[OOS],
    }
    _shared.update(corpus=corpus, setup=setup, streams=streams, args=args, model=model, quantiles=quantiles,
                   drift=DriftSettings(), intents=NewIntentSettings(), watch=watch)  # fmt: skip
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            runs = list(pool.map(_run, jobs))
    else:
        runs = [_run(j) for j in jobs]
    for r in runs:
        print(_line(r), file=sys.stderr)
    result = {
        "benchmark": "drift",
        "dataset": "clinc150 (train+val+test, 150 texts per intent) + its 1,200 out-of-scope texts",
        "seed_model": f"{args.preset} preset, 30 labelled texts per known intent, "
        f"{len(setup.known)} known intents",
        "held_back": {"concept": setup.concept_of, "new_intents": setup.new_intents},
        "judge": args.judge,
        "judge_share": args.judge_share,
        "false_alarms_stationary": {
            "texts": args.stationary * args.stationary_runs,
            "drift_events": sum(r["false_alarms"] for r in runs if r["scenario"] == "stationary"),
            "suggestions": sum(r["false_suggestions"] for r in runs if r["scenario"] == "stationary"),
        },
        "stream": {"length": args.length, "shift": args.shift, "stationary": args.stationary,
                   "weight": args.weight, "batch": 32, "learn_every": 64},
        "handling": {
            "boost_texts": args.boost_texts,
            "boost_share": 1.0,
            "operator_delay": args.operator_delay,
        },
        "drift_settings": _shared["drift"].to_dict(),
        "new_intent_settings": _shared["intents"].to_dict(),
        "windows": f"{WINDOW} texts: before = the last before the shift, after = consecutive windows "
        "from the shift on, last = the last of the stream; recovered_after = texts after the shift until "
        f"the delivered accuracy of the last {ROLL} is within 1 point of before",
        "runs": runs,
        "fit_s": round(fit_s, 1),
        "total_s": round(time.perf_counter() - t0, 1),
        "jobs": args.jobs,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "cpus": os.cpu_count(),
    }  # fmt: skip
    text = json.dumps(result, indent=1)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    _plot(runs, args.shift, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
