"""Cost and quality of incremental learning: ``RedClassifier.update`` against ``learn``/``refit``.

Cost: seconds per update of 64 examples at 150 classes (CLINC150, the default flat scorer fitted on 30
labelled per class) and at 1000 classes (synthetic, 30 per class, ``model_data``), against ``learn()``
(the exact, warm-started refit of the flat model) and ``refit()``. The first update after loading also
computed every training row's features (8 s at 1000 labels); it now reads only the rows it samples, and
is reported apart from the later updates. At 1000 classes scikit-learn's
lbfgs costs about a minute per iteration on this machine, so ``learn()`` there is timed with its
iterations capped (``max_iter=2``) and reported per iteration.

Quality: the CLINC150 and BANKING77 pools (true labels, shuffled, batches of 64) streamed through
``update()`` from the seed model; test accuracy along the way and at the end, against the exact refit
on the same rows (what ``learn()`` after every batch ends at). Prints JSON and writes
``benchmarks/results/learning.json`` with the machine's load average (timings depend on it).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import model_data as md  # noqa: E402
import numpy as np  # noqa: E402

from redline.core.classifier import RedClassifier  # noqa: E402
from redline.core.evaluation import LabelledSet  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 64


def _timed_both(fn: Any) -> tuple[float, float]:
    """Wall and process CPU seconds (on a shared machine the CPU time is the steadier measure)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _batches(pool: LabelledSet, n: int | None = None) -> list[LabelledSet]:
    order = np.random.default_rng(1).permutation(len(pool))
    out = [pool.subset(order[lo : lo + BATCH]) for lo in range(0, len(pool), BATCH)]
    return out[:n] if n is not None else out


def _stats(times: list[float], cpu: list[float] | None = None) -> dict[str, float]:
    out = {
        "median_s": float(np.median(times)),
        "mean_s": float(np.mean(times)),
        "p90_s": float(np.quantile(times, 0.9)),
        "max_s": float(np.max(times)),
        "n": len(times),
    }
    if cpu is not None:
        out["median_cpu_s"] = float(np.median(cpu))
        out["p90_cpu_s"] = float(np.quantile(cpu, 0.9))
    return out


def cost(model: RedClassifier, batches: list[LabelledSet], learn_max_iter: int | None) -> dict[str, Any]:
    """Update, learn and refit seconds on copies of ``model``."""
    out: dict[str, Any] = {"n_classes": int(model.classes_.size), "n_train": model.n_train_}
    unbuilt = model.copy()
    unbuilt._F = None  # as loaded from parameters + examples: the training features are not computed yet
    # what a refit or learn() computes first (an update reads only the rows it samples)
    out["training_features_s"], out["training_features_cpu_s"] = _timed_both(unbuilt._train_features)
    fresh = model.copy()
    fresh._F = None
    first = batches[0]
    wall, used = _timed_both(lambda: fresh.update(first.X, first.texts, first.labels))
    out["first_update_after_load"] = {
        "s": wall,
        "cpu_s": used,
        "built_training_features": fresh._F is not None,
    }
    times, cpu = [], []
    for b in batches[1:]:
        wall, used = _timed_both(lambda b=b: fresh.update(b.X, b.texts, b.labels))
        times.append(wall)
        cpu.append(used)
    out["update"] = _stats(times, cpu)
    out["loadavg_after_update"] = list(os.getloadavg())
    learner = model.copy()
    if learn_max_iter is not None:
        learner.config = replace(learner._cfg, max_iter=learn_max_iter)
        out["learn_max_iter"] = learn_max_iter
    learner._train_features()
    b = batches[0]
    out["learn_s"], out["learn_cpu_s"] = _timed_both(lambda: learner.learn(b.X, b.texts, b.labels))
    if learn_max_iter is None:
        out["refit_s"], out["refit_cpu_s"] = _timed_both(learner.refit)
    out["loadavg_after_learn"] = list(os.getloadavg())
    print(json.dumps(out), flush=True)
    return out


def quality(name: str) -> dict[str, Any]:
    """Stream the pool through update() and compare with the exact refit on the same rows."""
    seed, pool, test = md.real_sets(name)
    model, _ = md.fitted(f"{name}-seed", seed)
    reference, _ = md.fitted(f"{name}-seed+pool", md.joined(seed, pool))
    y = np.asarray(test.labels)

    def accuracy(m: RedClassifier) -> float:
        return float(np.mean(m.predict(test.X, test.texts) == y))

    out: dict[str, Any] = {"seed_accuracy": accuracy(model), "refit_accuracy": accuracy(reference)}
    curve, times, cpu = [], [], []
    batches = _batches(pool)
    for i, b in enumerate(batches):
        wall, used = _timed_both(lambda b=b: model.update(b.X, b.texts, b.labels))
        times.append(wall)
        cpu.append(used)
        if (i + 1) % 40 == 0:
            curve.append({"batches": i + 1, "accuracy": accuracy(model)})
    out["update_accuracy"] = accuracy(model)
    out["update_minus_refit_points"] = 100 * (out["update_accuracy"] - out["refit_accuracy"])
    out["curve"] = curve
    out["update_time"] = _stats(times, cpu)
    out["batches"] = len(batches)
    out["rows_learned"] = len(pool)
    out["loadavg"] = list(os.getloadavg())
    print(json.dumps({name: out}), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="cost150,cost1000,quality")
    parser.add_argument("--updates", type=int, default=10, help="timed updates per size")
    args = parser.parse_args(argv)
    parts = args.parts.split(",")
    summary: dict[str, Any] = {"machine_start": md.machine(), "batch": BATCH}
    if "cost150" in parts:
        seed, pool, _ = md.real_sets("clinc150")
        model, _ = md.fitted("clinc150-seed", seed)
        summary["cost_150_clinc150"] = cost(model, _batches(pool, args.updates), None)
    if "cost1000" in parts:
        model, _ = md.fitted_same_objective("syn1000x30-it10", md.synthetic_set(1000, 30), 10)
        new = md.synthetic_set(1000, 2, noise_seed=11)
        summary["cost_1000_synthetic"] = cost(model, _batches(new, args.updates), learn_max_iter=2)
    if "quality" in parts:
        summary["quality"] = {name: quality(name) for name in ("clinc150", "banking77")}
    summary["machine_end"] = md.machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = RESULTS / "learning.json"
    previous = json.loads(target.read_text()) if target.exists() else {}
    target.write_text(json.dumps({**previous, **summary}, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
