"""Real worker processes for the integration tests: a fitted model folder, starting, watching, stopping."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redline.broker.ports import find_free_port


@dataclass(frozen=True)
class Fitted:
    """A model folder fitted on a small CLINC150 seed set, and the simulated judge's truth."""

    model_dir: Path
    truth_file: Path
    test: list
    new_label: str
    new_examples: list[str]
    new_test: list[str]


def fit_folder(tmp: Path, n_classes: int, seed_per_class: int = 10) -> Fitted:
    """Fit on ``n_classes`` CLINC150 labels; one more label is held back (for add_label tests)."""
    from redline.adapters.bundled_datasets import load_dataset, split_dataset
    from redline.adapters.embedder import EmbeddingSettings
    from redline.adapters.jsonl_files import write_examples
    from redline.adapters.model_files import write_model_folder
    from redline.core.classifier import RedClassifier
    from redline.core.config import EngineConfig
    from redline.core.judge_budget import held_out_uncertainty, uncertainty_quantiles

    split = split_dataset(
        load_dataset("clinc150"), seed_per_class=seed_per_class, seed=0, max_classes=n_classes + 1
    )
    new_label = sorted(split.descriptions)[-1]
    seed = [e for e in split.seed if e.label != new_label]
    embedder = EmbeddingSettings.from_env().build()
    texts = [e.text for e in seed]
    y = [str(e.label) for e in seed]
    X = embedder.encode(texts)
    descriptions = {k: v for k, v in split.descriptions.items() if k != new_label}
    model = RedClassifier(EngineConfig(seed=0)).fit(X, texts, y, descriptions)
    held_out = held_out_uncertainty(lambda: RedClassifier(EngineConfig(seed=0)), X, texts, y, "margin")
    meta = {"embedder": embedder.model_id, "uncertainty_quantiles": uncertainty_quantiles(held_out)}
    write_model_folder(tmp / "model", model, meta)
    write_examples(tmp / "truth.jsonl", split.test)
    return Fitted(
        tmp / "model",
        tmp / "truth.jsonl",
        [e for e in split.test if e.label != new_label],
        new_label,
        [e.text for e in split.seed if e.label == new_label],
        [e.text for e in split.test if e.label == new_label],
    )


def start_worker(
    fitted: Fitted,
    bootstrap: str,
    prefix: str,
    app_id: str,
    tmp: Path,
    name: str,
    *extra: str,
    threshold: str | None = "0.3",
    with_model: bool = True,
) -> subprocess.Popen[bytes]:
    """Start ``redline worker`` (with ``--model``, or only the broker address when not ``with_model``).

    A fixed ``threshold`` (default) keeps routing deterministic; None: the judge budget. The process
    gets ``web_port`` and ``log`` attributes.
    """
    log = tmp / f"{name}.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    port = find_free_port()
    truth = [
        "--judge",
        "simulated:0.95",
        "--judge-truth",
        str(fitted.truth_file if fitted else tmp / "truth.jsonl"),
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "redline", "worker",
             *(["--model", str(fitted.model_dir)] if with_model else []),
             "--bootstrap", bootstrap, "--web-port", str(port), "--topic-prefix", prefix, "--app-id", app_id,
             *truth, *(["--threshold", threshold] if threshold is not None else []),
             "--batch-size", "16", "--batch-within", "0.2", "--session-timeout", "10",
             "--data-dir", str(tmp / f"data-{name}"), *extra],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    proc.web_port = port  # type: ignore[attr-defined]
    proc.log = log  # type: ignore[attr-defined]
    return proc


def page(
    proc: subprocess.Popen[bytes], path: str = "/redline/stats/", timeout: float = 10.0
) -> dict[str, Any]:
    """A JSON page of the worker's web server (a 503 page is returned too)."""
    url = f"http://127.0.0.1:{proc.web_port}{path}"  # type: ignore[attr-defined]
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        return dict(json.loads(exc.read()))


def wait_ready(proc: subprocess.Popen[bytes], timeout_s: float = 300.0) -> float:
    """Wait until ``/redline/ready/`` says 200; returns seconds (fails with the log tail if it exits)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if proc.poll() is not None:
            raise AssertionError(log_tail(proc))
        try:
            if page(proc, "/redline/ready/", timeout=2.0).get("ready"):
                return time.monotonic() - started
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"not ready after {timeout_s:.0f} s\n{log_tail(proc)}")


def wait_for(proc: subprocess.Popen[bytes], check: Any, timeout_s: float = 120.0) -> dict[str, Any]:
    """Poll the stats page until ``check(stats)`` holds; returns the page."""
    deadline = time.monotonic() + timeout_s
    stats: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(log_tail(proc))
        try:
            stats = page(proc)
            if check(stats):
                return stats
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"condition not met after {timeout_s:.0f} s: {stats}\n{log_tail(proc)}")


def log_tail(proc: subprocess.Popen[bytes], chars: int = 3000) -> str:
    """The end of the worker's log."""
    return Path(proc.log).read_text(errors="replace")[-chars:]  # type: ignore[attr-defined]


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    """Stop a worker (SIGTERM: a clean shutdown; SIGKILL: a crash) and return its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()
