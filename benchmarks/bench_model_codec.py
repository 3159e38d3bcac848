"""Size, fidelity and load time of classifier parameter blobs (``redline.adapters.model_codec``).

Models: the default flat scorer fitted on CLINC150 and BANKING77 (30 labelled per class as the seed
plus the rest of the train split, the pool, as learned examples), and on synthetic 1000-class sets
with 30 and 100 examples per class (``model_data.synthetic_set``; fitted by ``model_data.
fitted_same_objective``, 10 and 3 L-BFGS steps, since scikit-learn's lbfgs takes about a minute per
iteration there). For every precision and compressor: blob bytes, chunks of 900,000 bytes, encode and
decode seconds, test accuracy and the share of test predictions identical to the float32 model's.
Load times: blob -> scoring model, blob + training examples -> learning model (features of the
examples computed lazily, timed separately), and the full ``from_state`` for comparison.

Picks the default precision: the smallest (bz2) blob whose accuracy stays within 0.1 point of float32
and whose predictions are >= 99.5 % identical, on both real data sets. Prints JSON and merges into
``benchmarks/results/model_codec.json`` (runs of some models keep the others' results).
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

import model_data as md  # noqa: E402
import numpy as np  # noqa: E402

from redline.adapters.model_codec import (  # noqa: E402
    COMPRESSIONS,
    DEFAULT_COMPRESSION,
    DEFAULT_PRECISION,
    PRECISIONS,
    params_from_bytes,
    params_to_bytes,
    split_chunks,
)
from redline.core.classifier import RedClassifier  # noqa: E402
from redline.core.evaluation import LabelledSet  # noqa: E402
from redline.core.training_set import TrainingSet  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
KAFKA_DEFAULT_MESSAGE = 1_048_588  # broker message.max.bytes default
MAX_ACC_DROP = 0.001
MIN_SAME = 0.995
#: L-BFGS steps of the synthetic 1000-class fits (per class count): each costs minutes on 2 cores
ITERS = {30: 10, 100: 3}


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _models(which: list[str]) -> dict[str, tuple[RedClassifier, LabelledSet, dict[str, Any]]]:
    out = {}
    for name in which:
        if name in ("clinc150", "banking77"):
            seed, pool, test = md.real_sets(name)
            model, fit_s = md.fitted(f"{name}-seed+pool", md.joined(seed, pool))
            out[name] = (model, test, {"fit": "scikit-learn (default)", "fit_s": fit_s})
        else:
            per_class = int(name.split("x")[1])
            data = md.synthetic_set(1000, per_class)
            model, fit_s = md.fitted_same_objective(
                f"syn1000x{per_class}-it{ITERS[per_class]}", data, ITERS[per_class]
            )
            test = md.synthetic_set(1000, 5, noise_seed=7)
            out[name] = (
                model,
                test,
                {"fit": f"{ITERS[per_class]} L-BFGS steps, same objective", "fit_s": fit_s},
            )
    return out


def measure(model: RedClassifier, test: LabelledSet, compressions: list[str]) -> dict[str, Any]:
    """Every precision and compressor on one model."""
    params = model.params_state()
    y = np.asarray(test.labels)
    ref = model.predict(test.X, test.texts)
    out: dict[str, Any] = {
        "n_classes": int(model.classes_.size),
        "n_features": int(model.flat_coef_.shape[1]),
        "n_train": model.n_train_,
        "accuracy_float32": float(np.mean(ref == y)),
        "precisions": {},
    }
    for precision in PRECISIONS:
        row: dict[str, Any] = {}
        for compression in compressions:
            blob, enc_s = _timed(
                lambda p=precision, c=compression: params_to_bytes(params, precision=p, compression=c)
            )
            decoded, dec_s = _timed(lambda b=blob: params_from_bytes(b))
            row[compression] = {
                "bytes": len(blob),
                "chunks_900k": len(split_chunks(blob)),
                "encode_s": enc_s,
                "decode_s": dec_s,
            }
        again = RedClassifier.from_params(decoded)
        pred = again.predict(test.X, test.texts)
        row["accuracy"] = float(np.mean(pred == y))
        row["identical_predictions"] = float(np.mean(pred == ref))
        out["precisions"][precision] = row
        print(json.dumps({precision: row}), flush=True)
    return out


def load_times(model: RedClassifier, precision: str) -> dict[str, float]:
    """Seconds from bytes to a scoring model, and to a learning model with the training examples."""
    blob = params_to_bytes(model.params_state(), precision=precision)
    data = model.data_
    assert data is not None
    out: dict[str, float] = {}
    _, out["blob_to_scoring_model_s"] = _timed(lambda: RedClassifier.from_params(params_from_bytes(blob)))
    params = params_from_bytes(blob)
    copy = TrainingSet(np.array(data.X), data.texts, np.array(data.y))
    loaded, out["params_plus_data_to_model_s"] = _timed(lambda: RedClassifier.from_params(params, copy))
    _, out["lazy_training_features_s"] = _timed(loaded._train_features)
    state = model.to_state()
    _, out["from_state_full_s"] = _timed(lambda: RedClassifier.from_state(state))
    return out


def choose(results: dict[str, Any]) -> dict[str, Any]:
    """The smallest precision within the bounds on both real data sets, each precision's margins, and
    the codec's default."""
    real = {name: r for name, r in results.items() if name in ("clinc150", "banking77")}
    margins: dict[str, Any] = {}
    within = []
    for precision in PRECISIONS:
        rows = {name: r["precisions"][precision] for name, r in real.items()}
        drop = max(100 * (real[n]["accuracy_float32"] - row["accuracy"]) for n, row in rows.items())
        same = min(row["identical_predictions"] for row in rows.values())
        size = max(row["bz2"]["bytes"] for row in rows.values())
        margins[precision] = {"max_accuracy_drop_points": drop, "min_identical": same, "max_bz2_bytes": size}
        if drop <= 100 * MAX_ACC_DROP + 1e-9 and same >= MIN_SAME:
            within.append((size, precision))
    return {
        "rule": f"smallest bz2 blob: accuracy >= float32 - {100 * MAX_ACC_DROP} pt, >= {MIN_SAME} same",
        "smallest_within_bounds": min(within)[1] if within else None,
        "margins": margins,
        "default_precision": DEFAULT_PRECISION,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="clinc150,banking77,1000x30,1000x100")
    parser.add_argument("--compressions", default=",".join(COMPRESSIONS))
    args = parser.parse_args(argv)
    summary: dict[str, Any] = {"machine_start": md.machine(), "models": {}}
    compressions = args.compressions.split(",")
    models = _models(args.models.split(","))
    for name, (model, test, fit) in models.items():
        r = {**fit, **measure(model, test, compressions)}
        summary["models"][name] = r
    default = DEFAULT_PRECISION
    for name, (model, _, _) in models.items():
        summary["models"][name]["load"] = load_times(model, default)
        blob_bytes = summary["models"][name]["precisions"][default][DEFAULT_COMPRESSION]["bytes"]
        summary["models"][name]["default_fits_one_kafka_message"] = blob_bytes <= KAFKA_DEFAULT_MESSAGE
        print(json.dumps({name: summary["models"][name]["load"]}), flush=True)
    summary["machine_end"] = md.machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = RESULTS / "model_codec.json"
    previous = json.loads(target.read_text()) if target.exists() else {}
    runs = {
        **previous.get("runs", {}),
        ",".join(summary["models"]): {k: summary[k] for k in ("machine_start", "machine_end")},
    }
    merged = {**previous, "runs": runs, "models": {**previous.get("models", {}), **summary["models"]}}
    if {"clinc150", "banking77"} <= set(merged["models"]):
        merged["choice"] = choose(merged["models"])
    target.write_text(json.dumps(merged, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
