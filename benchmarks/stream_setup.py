"""Models, texts and measuring tools for ``bench_stream``: what a worker is started with and watched by.

* ``clinc150_case``: the default model fitted on the CLINC150 seed set (30 per class, 150 labels), the
  official test split streamed, ground truth for the simulated expert;
* ``synthetic_case``: 1000 synthetic labels (``model_data.synthetic_set``: normalised points around
  random centres plus generated texts whose word and char n-gram vocabularies fill their caps as real
  texts do), fitted by 10 L-BFGS steps (``model_data.fitted_same_objective``; scikit-learn's lbfgs costs a
  minute per iteration there); fresh texts of the same classes streamed. The worker embeds those texts
  with MiniLM (the real cost of a text) while the model was fitted on the synthetic points, so its
  accuracy there means nothing: the 1000-class rows measure speed and memory only.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


@dataclass
class StreamCase:
    """A model folder, the texts to stream and their ground truth (text -> label)."""

    name: str
    n_classes: int
    model_dir: Path
    truth_file: Path
    texts: list[str]
    labels: list[str]


def clinc150_case(work: Path, embedder: Any) -> StreamCase:
    """The CLINC150 seed-set model (as ``redline fit`` writes it) and the official test split."""
    from redline.adapters.bundled_datasets import load_dataset, split_dataset
    from redline.adapters.jsonl_files import write_examples
    from redline.adapters.model_files import write_model_folder
    from redline.core.classifier import RedClassifier
    from redline.core.config import EngineConfig
    from redline.core.judge_budget import held_out_uncertainty, uncertainty_quantiles

    split = split_dataset(load_dataset("clinc150"), seed_per_class=30, seed=0)
    texts = [e.text for e in split.seed]
    y = [str(e.label) for e in split.seed]
    X = embedder.encode(texts)
    model = RedClassifier(EngineConfig()).fit(X, texts, y, split.descriptions)
    held_out = held_out_uncertainty(lambda: RedClassifier(EngineConfig()), X, texts, y, "margin")
    meta = {"embedder": embedder.model_id, "uncertainty_quantiles": uncertainty_quantiles(held_out)}
    folder = work / "model-clinc150"
    write_model_folder(folder, model, meta)
    write_examples(work / "truth-clinc150.jsonl", split.test)
    # the test split lists its texts label by label; a stream mixes them (in label order the drift watch
    # rightly saw the rates of all labels together change with every new label, and relearned)
    test = list(split.test)
    random.Random(0).shuffle(test)
    return StreamCase(
        "clinc150", len(model.classes_), folder, work / "truth-clinc150.jsonl",
        [e.text for e in test], [str(e.label) for e in test],
    )  # fmt: skip


def synthetic_case(work: Path, embedder: Any, n_classes: int = 1000) -> StreamCase:
    """``n_classes`` synthetic labels (30 per class, 10 L-BFGS steps); 5 fresh texts per class streamed."""
    import model_data as md

    from redline.adapters.jsonl_files import write_jsonl
    from redline.adapters.model_files import write_model_folder

    train = md.synthetic_set(n_classes, 30)
    model, _ = md.fitted_same_objective(f"syn{n_classes}x30-it10", train, iters=10)
    folder = work / f"model-synthetic{n_classes}"
    write_model_folder(folder, model, {"embedder": embedder.model_id})
    test = md.synthetic_set(n_classes, 5, noise_seed=7)
    order = list(range(len(test.texts)))
    random.Random(0).shuffle(order)  # classes mixed, as a real stream
    texts = [test.texts[i] for i in order]
    labels = [test.labels[i] for i in order]
    truth = work / f"truth-synthetic{n_classes}.jsonl"
    write_jsonl(truth, ({"text": t, "label": y} for t, y in zip(texts, labels, strict=True)))
    return StreamCase(f"synthetic{n_classes}", n_classes, folder, truth, texts, labels)


def embedding_rate(embedder: Any, texts: list[str], batch_size: int = 64) -> tuple[float, float]:
    """texts/s of ``embedder`` alone on ``texts`` (one pass, batches as the worker makes them), and the
    CPU milliseconds it spent per text."""
    start, cpu = time.perf_counter(), cpu_seconds()
    for i in range(0, len(texts), batch_size):
        embedder.encode(texts[i : i + batch_size])
    return len(texts) / (time.perf_counter() - start), (cpu_seconds() - cpu) * 1000 / len(texts)


@dataclass
class RssSampler:
    """Samples a process's resident memory (VmRSS, MiB) every ``every_s`` seconds in a thread."""

    pid: int
    every_s: float = 0.5
    samples: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> RssSampler:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            try:
                status = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    self.samples.append((time.monotonic() - started, int(line.split()[1]) / 1024))
            self._stop.wait(self.every_s)

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        values = [v for _, v in self.samples]
        if not values:
            return {}
        first, half = values[: len(values) // 2], values[len(values) // 2 :]
        return {
            "max_mib": round(max(values), 1),
            "last_mib": round(values[-1], 1),
            "median_first_half_mib": round(sorted(first)[len(first) // 2], 1) if first else None,
            "median_second_half_mib": round(sorted(half)[len(half) // 2], 1),
            "samples": len(values),
            # seconds since start, MiB: every 10 s (whether it grows, and when)
            "series": _every(self.samples, 10.0),
        }


def _every(samples: list[tuple[float, float]], seconds: float) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for t, v in samples:
        if not out or t - out[-1][0] >= seconds:
            out.append((round(t, 1), round(v, 1)))
    return out


def py_spy(pid: int, seconds: float, svg: Path) -> subprocess.Popen[bytes] | None:
    """Start ``py-spy record`` on ``pid`` for ``seconds`` (None when py-spy is not installed)."""
    exe = Path(sys.executable).parent / "py-spy"
    if not exe.exists():
        return None
    return subprocess.Popen(
        [str(exe), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "50",
         "--subprocesses", "--nonblocking", "--output", str(svg)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    """p50 / p90 / p99 / max in milliseconds, and the count."""
    if not values:
        return {"n": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    import numpy as np

    a = np.asarray(values) * 1000
    return {
        "n": len(values),
        "p50_ms": round(float(np.percentile(a, 50)), 1),
        "p90_ms": round(float(np.percentile(a, 90)), 1),
        "p99_ms": round(float(np.percentile(a, 99)), 1),
        "max_ms": round(float(a.max()), 1),
    }


def cpu_seconds(pid: int | None = None, children: bool = False) -> float:
    """CPU seconds (user + system, all threads) a process has used so far; this process by default.
    ``children``: with those of its children that ended and were waited for."""
    fields = Path(f"/proc/{pid or 'self'}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def load() -> list[float]:
    """The machine's 1/5/15-minute load average (timings depend on it)."""
    return [round(x, 2) for x in os.getloadavg()]
