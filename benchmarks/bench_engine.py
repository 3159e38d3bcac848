"""Ablation of the R.E.D. engine on CLINC150 and BANKING77 (issue 3, ``make bench-engine``).

30 labelled texts per class as seed, the rest of the official train split as the unlabelled pool, the
official test split for scoring; simulated expert at 0.95 (independent and confusion-aware); budgets as
a fraction of the pool. Every run is cached as JSON under ``benchmarks/results/runs/`` (delete to rerun),
then aggregated into ``benchmarks/results/engine.json``, ``engine.md`` (the ablation table) and plots.

Runs go seed by seed (all rows of seed 0 first), so an interrupted run still yields a complete table for
the seeds it finished; the table states how many seeds each cell averages.

    python benchmarks/bench_engine.py [--datasets clinc150,banking77] [--seeds 0,1,2] [--rows ...]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one BLAS thread per process: measured 6x faster on a busy 2-core box

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_data import load, split_seed_pool  # noqa: E402

from redline.core.classifier import RedClassifier  # noqa: E402
from redline.core.config import EngineConfig, LoopConfig  # noqa: E402
from redline.core.evaluation import evaluate  # noqa: E402
from redline.judge.specs import simulated_expert  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = RESULTS / "runs"
N_SEED = 30

# row id -> (description, kind, preset, judge, budget)
ROWS: dict[str, tuple[str, str, str, str, float]] = {
    "flat-seed": ("flat LR (C=10), seed only", "static-seed", "flat", "", 0.0),
    "flat-ceiling": ("flat LR, seed + whole pool labelled (ceiling)", "static-all", "flat", "", 0.0),
    "ngrams-ceiling": ("flat LR + n-grams, seed + whole pool labelled", "static-all", "flat-ngrams", "", 0.0),
    "as-written": (
        "R.E.D. as written (n=8, noise 2x, raw probs, entropy)",
        "loop",
        "as-written",
        "simulated:0.95",
        0.2,
    ),
    "subsets-16": ("as written, subsets of 16", "loop", "subsets-16", "simulated:0.95", 0.2),
    "noise-5x": ("as written, noise 5x", "loop", "noise-5x", "simulated:0.95", 0.2),
    "noise-all": (
        "as written, noise = all other subsets' examples",
        "loop",
        "noise-all",
        "simulated:0.95",
        0.2,
    ),
    "noise-odds": ("+ noise-odds scale across subsets", "loop", "noise-odds", "simulated:0.95", 0.2),
    "subsets-margin": (
        "+ margin uncertainty (best subset config)",
        "loop",
        "subsets-margin",
        "simulated:0.95",
        0.2,
    ),
    "hybrid": ("subsets + flat averaged, margin", "loop", "hybrid", "simulated:0.95", 0.2),
    "flat-entropy": ("flat LR + judge loop, entropy", "loop", "flat-entropy", "simulated:0.95", 0.2),
    "flat": ("flat LR + judge loop, margin", "loop", "flat", "simulated:0.95", 0.2),
    "default": (
        "default: flat LR on embedding + word/char n-grams, margin",
        "loop",
        "default",
        "simulated:0.95",
        0.2,
    ),
    "default-hard": ("default, confusion-aware expert", "loop", "default", "simulated-hard:0.95", 0.2),
    "as-written-hard": (
        "as written, confusion-aware expert",
        "loop",
        "as-written",
        "simulated-hard:0.95",
        0.2,
    ),
    "default-b10": ("default, judge budget 10 %", "loop", "default", "simulated:0.95", 0.1),
    "default-b30": ("default, judge budget 30 %", "loop", "default", "simulated:0.95", 0.3),
}


def run_one(dataset: str, row: str, seed: int, data: dict[str, Any]) -> dict[str, Any]:
    """Run one (dataset, row, seed) and return its JSON record."""
    desc, kind, preset, judge, budget = ROWS[row]
    train, test = data[dataset]
    seed_set, pool = split_seed_pool(train, N_SEED, seed)
    engine = EngineConfig.named(preset, seed=seed)
    t0 = time.perf_counter()
    if kind.startswith("static"):
        fit_on = seed_set if kind == "static-seed" else train
        model = RedClassifier(engine).fit(fit_on.X, fit_on.texts, fit_on.labels)
        pred = model.predict(test.X, test.texts)
        out: dict[str, Any] = {"accuracy": float(np.mean(pred == np.asarray(test.labels)))}
    else:
        loop = replace(LoopConfig(), budget=budget)
        truth = dict(zip(pool.texts, pool.labels, strict=True))
        expert = simulated_expert(judge, truth, seed_set.X, seed_set.labels, seed=engine.seed)
        out = evaluate(seed_set, pool, test, engine=engine, loop=loop, judge=expert).to_dict()
    out.update(dataset=dataset, row=row, seed=seed, description=desc, seconds=time.perf_counter() - t0)
    return out


def aggregate(records: list[dict[str, Any]], datasets: list[str]) -> dict[str, Any]:
    """Mean / std / n per (row, dataset) of the headline metrics."""
    table: dict[str, Any] = {}
    metrics = ("accuracy", "delivered_accuracy", "judge_calls", "pool_size", "unresolved", "seed_accuracy")
    for row in ROWS:
        table[row] = {"description": ROWS[row][0]}
        for ds in datasets:
            recs = [r for r in records if r["row"] == row and r["dataset"] == ds]
            if not recs:
                continue
            cell: dict[str, Any] = {"n_seeds": len(recs)}
            for m in metrics:
                vals = [r[m] for r in recs if m in r]
                if vals:
                    cell[m] = float(np.mean(vals))
                    cell[m + "_std"] = float(np.std(vals))
            if "error_auroc" in recs[0]:
                unc = recs[0]["config"]["engine"]["uncertainty"]
                cell["error_auroc"] = float(np.mean([r["error_auroc"][unc] for r in recs]))
                cell["uncertainty"] = unc
                cell["judge_error_rate"] = float(np.mean([r["judge"]["error_rate"] for r in recs]))
            if "judge_calls" in cell:
                cell["judge_share"] = cell["judge_calls"] / cell["pool_size"]
            table[row][ds] = cell
    return table


def markdown(table: dict[str, Any], datasets: list[str]) -> str:
    """The ablation table."""

    def pct(cell: dict[str, Any], key: str) -> str:
        if key not in cell:
            return "–"
        std = cell.get(key + "_std", 0.0)
        return f"{100 * cell[key]:.1f}" + (f" ±{100 * std:.1f}" if cell["n_seeds"] > 1 else "")

    head = "| configuration |"
    sep = "|---|"
    for ds in datasets:
        head += f" {ds} test | {ds} delivered | {ds} judge calls | {ds} error AUROC | seeds |"
        sep += "---|---|---|---|---|"
    lines = [
        "R.E.D. engine ablation (benchmarks/bench_engine.py). Seed = 30 labelled texts per class from the",
        "official train split, pool = the rest of train (labels seen only through the judge), test = the",
        "official test split. Judge: simulated expert at 0.95 (independent unless the row says",
        "confusion-aware), budget = judge calls / pool size. Test = final model on the test split;",
        "delivered = labels committed for every pool text (validated label, unresolved = wrong, else the",
        "final model's prediction). Error AUROC = how well the row's uncertainty ranks the seed model's",
        "pool errors.",
        "Cells are mean ± std over the seeds counted in the row (± omitted for one seed).",
        "",
        head,
        sep,
    ]
    for entry in table.values():
        line = f"| {entry['description']} |"
        for ds in datasets:
            cell = entry.get(ds)
            if not cell:
                line += " – | – | – | – | 0 |"
                continue
            share = f"{100 * cell['judge_share']:.1f} %" if "judge_share" in cell else "–"
            auroc = f"{cell['error_auroc']:.3f} ({cell['uncertainty']})" if "error_auroc" in cell else "–"
            line += f" {pct(cell, 'accuracy')} | {pct(cell, 'delivered_accuracy')} | {share} | {auroc} |"
            line += f" {cell['n_seeds']} |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def plots(records: list[dict[str, Any]], datasets: list[str]) -> list[str]:
    """Per-round curves (as written vs default) and the budget curve of the default."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4), squeeze=False)
    for ax, ds in zip(axes[0], datasets, strict=True):
        for row, style in (("as-written", "--"), ("subsets-margin", ":"), ("default", "-")):
            rec = next(
                (r for r in records if r["dataset"] == ds and r["row"] == row and r["seed"] == 0), None
            )
            if rec is None:
                continue
            rounds = [r["round"] for r in rec["rounds_detail"]]
            ax.plot(rounds, [r["test_accuracy"] for r in rec["rounds_detail"]], style, label=f"{row} test")
            ax.plot(
                rounds,
                [r["delivered_accuracy"] for r in rec["rounds_detail"]],
                style,
                label=f"{row} delivered",
            )
        ax.set_title(f"{ds}: accuracy per round (seed 0, budget 20 %)")
        ax.set_xlabel("round")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = RESULTS / "engine_rounds.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(str(path))

    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4), squeeze=False)
    for ax, ds in zip(axes[0], datasets, strict=True):
        pts = []
        for row, b in (("default-b10", 0.1), ("default", 0.2), ("default-b30", 0.3)):
            recs = [r for r in records if r["dataset"] == ds and r["row"] == row]
            if recs:
                pts.append(
                    (
                        b,
                        np.mean([r["accuracy"] for r in recs]),
                        np.mean([r["delivered_accuracy"] for r in recs]),
                    )
                )
        if pts:
            xs, te, de = zip(*pts, strict=True)
            ax.plot(xs, te, "o-", label="test accuracy")
            ax.plot(xs, de, "s-", label="delivered accuracy")
        ax.set_title(f"{ds}: default vs judge budget")
        ax.set_xlabel("judge calls / pool size")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = RESULTS / "engine_budget.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(str(path))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="clinc150,banking77")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--force", action="store_true", help="rerun cached runs")
    parser.add_argument("--aggregate-only", action="store_true", help="rebuild the table from cached runs")
    args = parser.parse_args(argv)
    datasets = args.datasets.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = args.rows.split(",")
    unknown = set(rows) - set(ROWS)
    if unknown:
        parser.error(f"unknown rows: {sorted(unknown)}")
    RUNS.mkdir(parents=True, exist_ok=True)
    data = {} if args.aggregate_only else {ds: load(ds) for ds in datasets}
    jobs = [] if args.aggregate_only else [(ds, row, s) for s in seeds for row in rows for ds in datasets]
    from tqdm import tqdm

    for ds, row, s in tqdm(jobs, desc="bench-engine", unit="run"):
        path = RUNS / f"{ds}-{row}-s{s}.json"
        if path.exists() and not args.force:
            continue
        rec = run_one(ds, row, s, data)
        path.write_text(json.dumps(rec, indent=1, default=float))
        tqdm.write(
            f"{ds} {row} seed {s}: test {rec['accuracy']:.4f} "
            f"delivered {rec.get('delivered_accuracy', float('nan')):.4f} ({rec['seconds']:.0f} s)"
        )
    records = [json.loads(p.read_text()) for p in sorted(RUNS.glob("*.json"))]
    records = [r for r in records if r["dataset"] in datasets and r["row"] in ROWS]
    table = aggregate(records, datasets)
    summary = {"n_seed_per_class": N_SEED, "datasets": datasets, "table": table}
    (RESULTS / "engine.json").write_text(json.dumps(summary, indent=1))
    (RESULTS / "engine.md").write_text(markdown(table, datasets))
    summary["plots"] = plots(records, datasets)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
