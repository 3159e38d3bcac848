"""Embedding backends: throughput of torch, onnx and onnx-int8, their agreement, and the engine's accuracy.

One run, one machine, interleaved: every repetition times each backend on the same CLINC150 and
BANKING77 texts back to back, and the best repetition counts (the machine is shared; the load average
before each repetition is recorded). Process CPU time per text is recorded too: on a loaded machine it
moves less than wall time. ``onnx`` is also timed without sorting by length, to show what sorting buys.

``--accuracy`` embeds the official test split and the seed set (30 labelled per class from the official
train split, seeds as in benchmarks/engine_data.py) with each backend, fits the default engine
(``EngineConfig()``, flat model) on the seed set and scores the test split: the accuracy each backend
delivers and its difference to torch's (in points, paired: same split, same seed). ``--loop`` adds one
judge-loop run (seed 0, simulated expert at 0.95, budget 20 %), which embeds the whole train split.

Prints one JSON object and writes it to ``benchmarks/results/embedding.json``.

Usage: ``python benchmarks/bench_embedding.py [--n 1000] [--reps 3] [--threads 1,2] [--accuracy] [--loop]``
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # scikit-learn's BLAS: one thread per process on a busy 2-core box
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_data import CACHE, _read, embed, split_seed_pool  # noqa: E402

from redline.adapters.embedder import Embedder, EmbeddingSettings  # noqa: E402
from redline.adapters.onnx_embedder import OnnxEmbedder  # noqa: E402
from redline.core.classifier import RedClassifier  # noqa: E402
from redline.core.config import EngineConfig, LoopConfig  # noqa: E402
from redline.core.evaluation import LabelledSet, evaluate  # noqa: E402
from redline.judge.specs import simulated_expert  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DATASETS = ("clinc150", "banking77")
BACKENDS = ("torch", "onnx", "onnx-int8")
N_SEED = 30


def build(backend: str, threads: int, batch_size: int, sort_by_length: bool = True) -> Embedder:
    """An uncached embedder of ``backend`` (exports under ``$REDLINE_CACHE_DIR/onnx`` as redline does)."""
    settings = EmbeddingSettings.from_env(
        backend=backend, threads=threads, batch_size=batch_size, cache=False
    )
    if backend != "torch" and not sort_by_length:
        return OnnxEmbedder(
            settings.onnx_dir, quantized=backend == "onnx-int8", batch_size=batch_size, threads=threads
        )
    return settings.build()


def sample(dataset: str, n: int) -> list[str]:
    texts = _read(dataset)["train"][0]
    rng = np.random.default_rng(0)
    return [texts[i] for i in sorted(rng.choice(len(texts), size=min(n, len(texts)), replace=False))]


def throughput(args: argparse.Namespace) -> dict[str, Any]:
    """texts/s (best of ``reps``) and CPU ms/text of each backend on each data set, per thread count."""
    import torch

    texts = {ds: sample(ds, args.n) for ds in DATASETS}
    out: dict[str, Any] = {}
    vectors: dict[str, dict[str, np.ndarray]] = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        runners = {b: build(b, threads, args.batch_size) for b in BACKENDS}
        runners["onnx-unsorted"] = build("onnx", threads, args.batch_size, sort_by_length=False)
        runners["onnx-int8-unsorted"] = build("onnx-int8", threads, args.batch_size, sort_by_length=False)
        for runner in runners.values():
            runner.encode(texts["clinc150"][:64])  # load and warm up
        wall: dict[str, list[float]] = {f"{b}/{ds}": [] for b in runners for ds in DATASETS}
        cpu: dict[str, list[float]] = {key: [] for key in wall}
        loads = []
        for _ in range(args.reps):
            loads.append([round(x, 2) for x in os.getloadavg()])
            for name, runner in runners.items():
                for ds in DATASETS:
                    t0, c0 = time.perf_counter(), time.process_time()
                    v = runner.encode(texts[ds])
                    wall[f"{name}/{ds}"].append(time.perf_counter() - t0)
                    cpu[f"{name}/{ds}"].append(time.process_time() - c0)
                    vectors.setdefault(name, {})[ds] = v
        cell: dict[str, Any] = {"load_average_per_rep": loads}
        for ds in DATASETS:
            n = len(texts[ds])
            row = {}
            for name in runners:
                best, best_cpu = min(wall[f"{name}/{ds}"]), min(cpu[f"{name}/{ds}"])
                row[name] = {
                    "texts_per_s": round(n / best, 1),
                    "texts_per_s_median": round(n / float(np.median(wall[f"{name}/{ds}"])), 1),
                    "cpu_ms_per_text": round(1000 * best_cpu / n, 3),
                    "speedup_vs_torch": round(min(wall[f"torch/{ds}"]) / best, 2),
                    "cpu_speedup_vs_torch": round(min(cpu[f"torch/{ds}"]) / best_cpu, 2),
                }
            cell[ds] = row
        out[f"threads={threads}"] = cell
    agreement = {}
    for name in ("onnx", "onnx-int8"):
        for ds in DATASETS:
            gap = np.abs((vectors[name][ds] * vectors["torch"][ds]).sum(axis=1) - 1.0)
            agreement[f"{name}/{ds}"] = {"max_abs_cos_minus_1": float(gap.max()), "mean": float(gap.mean())}
    sorted_vs_unsorted = float(
        np.abs(vectors["onnx"]["clinc150"] - vectors["onnx-unsorted"]["clinc150"]).max()
    )
    out["texts"] = {ds: len(t) for ds, t in texts.items()}
    out["vs_torch"] = agreement
    out["onnx_sorted_vs_unsorted_max_abs_diff"] = sorted_vs_unsorted
    return out


def startup(args: argparse.Namespace) -> dict[str, float]:
    """Seconds from a fresh interpreter to the first vector (imports, model load, one text)."""
    code = (
        "import sys; from redline.adapters.embedder import EmbeddingSettings; "
        "EmbeddingSettings.from_env(backend=sys.argv[1], cache=False, threads=1).build().encode(['warm up'])"
    )
    found = {}
    for backend in BACKENDS:
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code, backend], check=True, capture_output=True)
            best = min(best, time.perf_counter() - t0)
        found[backend] = round(best, 2)
    return found


def embed_cached(backend: str, texts: list[str], threads: int, batch_size: int) -> np.ndarray:
    """``backend``'s vectors of ``texts``, kept as .npy under REDLINE_EMB_CACHE (per backend)."""
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"bench-embedding-{backend}-{key}.npy"
    if path.exists():
        return np.asarray(np.load(path), dtype=np.float32)
    X = build(backend, threads, batch_size).encode(texts)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, X)
    return X


def accuracy(args: argparse.Namespace) -> dict[str, Any]:
    """The default engine's test accuracy with each backend's vectors (and one judge loop with --loop)."""
    out: dict[str, Any] = {}
    for ds in DATASETS:
        raw = _read(ds)
        train_texts, train_labels = raw["train"]
        test_texts, test_labels = raw["test"]
        positions = LabelledSet(tuple(train_texts), tuple(train_labels), np.arange(len(train_texts))[:, None])
        splits = {seed: split_seed_pool(positions, N_SEED, seed) for seed in args.seeds}
        if args.loop:
            needed = np.arange(len(train_texts))
        else:
            needed = np.unique(np.concatenate([s.X[:, 0] for s, _ in splits.values()]))
        row_of = {int(i): r for r, i in enumerate(needed)}
        cell: dict[str, Any] = {"test_texts": len(test_texts), "embedded_train_texts": len(needed)}
        reference: dict[str, Any] = {}
        for backend in BACKENDS:
            t0 = time.perf_counter()
            if backend == "torch":  # the engine benchmarks' vectors (sentence-transformers, batch 64), cached
                X_train, X_test = embed(list(train_texts))[needed], embed(list(test_texts))
            else:
                subset = [train_texts[i] for i in needed]
                X_train = embed_cached(backend, subset, args.threads[0], args.batch_size)
                X_test = embed_cached(backend, list(test_texts), args.threads[0], args.batch_size)
            test = LabelledSet(tuple(test_texts), tuple(test_labels), X_test)
            accs, predictions = [], []
            for seed, (seed_pos, _pool) in splits.items():
                rows = [row_of[int(i)] for i in seed_pos.X[:, 0]]
                seed_set = LabelledSet(seed_pos.texts, seed_pos.labels, X_train[rows])
                model = RedClassifier(EngineConfig(seed=seed)).fit(
                    seed_set.X, seed_set.texts, seed_set.labels
                )
                predicted = np.asarray(model.predict(test.X, test.texts))
                predictions.append(predicted)
                accs.append(float(np.mean(predicted == np.asarray(test_labels))))
            entry: dict[str, Any] = {
                "test_accuracy_per_seed": [round(100 * a, 2) for a in accs],
                "test_accuracy": round(100 * float(np.mean(accs)), 2),
            }
            if backend == "torch":
                reference = {"accs": accs, "predictions": predictions, "X_test": X_test}
            else:
                entry["points_vs_torch"] = round(100 * (float(np.mean(accs)) - np.mean(reference["accs"])), 2)
                entry["same_prediction_as_torch"] = round(
                    float(
                        np.mean(
                            [
                                np.mean(a == b)
                                for a, b in zip(predictions, reference["predictions"], strict=True)
                            ]
                        )
                    ),
                    4,
                )
                gap = np.abs((X_test * reference["X_test"]).sum(axis=1) - 1.0)
                entry["test_max_abs_cos_minus_1"] = float(gap.max())
                entry["test_mean_abs_cos_minus_1"] = float(gap.mean())
            if args.loop:
                seed_pos, pool_pos = splits[args.seeds[0]]
                seed_set = LabelledSet(seed_pos.texts, seed_pos.labels, X_train[seed_pos.X[:, 0]])
                pool = LabelledSet(pool_pos.texts, pool_pos.labels, X_train[pool_pos.X[:, 0]])
                engine = EngineConfig(seed=args.seeds[0])
                truth = dict(zip(pool.texts, pool.labels, strict=True))
                expert = simulated_expert(
                    "simulated:0.95", truth, seed_set.X, seed_set.labels, seed=engine.seed
                )
                result = evaluate(
                    seed_set, pool, test, engine=engine, loop=replace(LoopConfig(), budget=0.2), judge=expert
                ).to_dict()
                entry["loop_seed0"] = {
                    "test_accuracy": round(100 * result["accuracy"], 2),
                    "delivered_accuracy": round(100 * result["delivered_accuracy"], 2),
                }
            entry["seconds"] = round(time.perf_counter() - t0, 1)
            cell[backend] = entry
            print(json.dumps({ds: {backend: entry}}), file=sys.stderr, flush=True)
        out[ds] = cell
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="texts per data set for the timing")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (the best counts)")
    parser.add_argument(
        "--threads", default="1,2", help="thread counts to time (the first embeds for --accuracy)"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--accuracy", action="store_true", help="the engine's accuracy with each backend")
    parser.add_argument("--seeds", default="0,1,2", help="seed splits for --accuracy")
    parser.add_argument("--loop", action="store_true", help="with --accuracy: one judge-loop run (seed 0)")
    parser.add_argument(
        "--skip-timing", action="store_true", help="only --accuracy (keeps the timing on file)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "embedding.json")
    args = parser.parse_args()
    args.threads = [int(t) for t in args.threads.split(",")]
    args.seeds = [int(s) for s in args.seeds.split(",")]

    started = time.perf_counter()
    export_start = time.perf_counter()
    export = OnnxEmbedder(EmbeddingSettings.from_env().onnx_dir).export()
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    result: dict[str, Any] = {
        "benchmark": "embedding",
        "model": export.model_id,
        "export_folder": str(export.folder),
        "export_or_check_seconds": round(time.perf_counter() - export_start, 1),
        "cpus": os.cpu_count(),
        "cpu": _cpu_name(),
        "batch_size": args.batch_size,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    if args.skip_timing:
        result.update({k: v for k, v in previous.items() if k in ("throughput", "startup_seconds")})
    else:
        result["throughput"] = throughput(args)
        result["startup_seconds"] = startup(args)
    if args.accuracy:
        result["accuracy"] = accuracy(args)
    elif "accuracy" in previous:
        result["accuracy"] = previous["accuracy"]
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
