"""The real CLI in a subprocess with the real MiniLM model on 10 CLINC150 intents.

datasets export -> fit -> predict -> evaluate --json --plot, and bad input through the same process
boundary. Embeddings are cached in a per-session folder (REDLINE_CACHE_DIR), so only the first command
embeds the texts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _run(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "redline", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cache = tmp_path_factory.mktemp("embedding-cache")
    return {
        **os.environ,
        "REDLINE_CACHE_DIR": str(cache),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


@pytest.fixture(scope="module")
def clinc10(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    out = tmp_path_factory.mktemp("clinc10")
    done = _run(
        [
            "datasets",
            "export",
            "--name",
            "clinc150",
            "--max-classes",
            "10",
            "--seed-per-class",
            "10",
            "--seed",
            "0",
            "--out",
            str(out),
        ],
        env,
    )
    assert done.returncode == 0, done.stderr
    # keep the run small: every 3rd pool text (300) and every 2nd test text (150), all 10 labels
    for name, step in (("pool.jsonl", 3), ("test.jsonl", 2)):
        lines = (out / name).read_text().splitlines()
        (out / name).write_text("\n".join(lines[::step]) + "\n")
    return out


def test_fit_predict_evaluate(clinc10: Path, env: dict[str, str], tmp_path: Path) -> None:
    model = tmp_path / "model"
    fit = _run(
        [
            "fit",
            "--train",
            str(clinc10 / "seed.jsonl"),
            "--labels",
            str(clinc10 / "labels.jsonl"),
            "--out",
            str(model),
            "--no-progress",
        ],
        env,
    )
    assert fit.returncode == 0, fit.stderr
    assert "fitted 10 labels on 100 examples" in fit.stdout
    assert sorted(p.name for p in model.iterdir()) == ["arrays.npz", "manifest.json"]

    pred_path = tmp_path / "pred.jsonl"
    pred = _run(
        [
            "predict",
            "--model",
            str(model),
            "--in",
            str(clinc10 / "test.jsonl"),
            "--out",
            str(pred_path),
            "--no-progress",
        ],
        env,
    )
    assert pred.returncode == 0, pred.stderr
    rows = [json.loads(line) for line in pred_path.read_text().splitlines()]
    assert len(rows) == 150
    accuracy = sum(r["prediction"] == r["label"] for r in rows) / len(rows)
    assert accuracy > 0.85, accuracy  # chance is 0.10
    assert f"accuracy on the 150 labelled input texts: {accuracy:.4f}" in pred.stdout

    plot = tmp_path / "curve.png"
    ev = _run(
        [
            "evaluate",
            "--train",
            str(clinc10 / "seed.jsonl"),
            "--pool",
            str(clinc10 / "pool.jsonl"),
            "--test",
            str(clinc10 / "test.jsonl"),
            "--labels",
            str(clinc10 / "labels.jsonl"),
            "--judge",
            "simulated:0.95",
            "--budget",
            "0.2",
            "--seed",
            "0",
            "--json",
            "--plot",
            str(plot),
        ],
        env,
    )
    assert ev.returncode == 0, ev.stderr
    result = json.loads(ev.stdout)  # stdout is exactly one JSON object; progress went to stderr
    assert "rounds" in ev.stderr  # the progress bar
    for key in (
        "accuracy",
        "macro_f1",
        "baseline_accuracy",
        "delivered_accuracy",
        "unresolved",
        "judge_calls",
        "pool_size",
        "rounds",
    ):
        assert isinstance(result[key], int | float), key
    assert result["pool_size"] == 300
    assert result["accuracy"] > 0.85 and result["baseline_accuracy"] > 0.85
    assert result["delivered_accuracy"] > 0.85
    assert 0 < result["judge_calls"] <= 0.2 * 300 + 5  # the last text may finish its candidate list
    assert 0 <= result["unresolved"] <= result["judge_calls"]
    assert result["rounds"] >= 1 and len(result["rounds_detail"]) == result["rounds"] + 1
    assert plot.stat().st_size > 10_000


def test_bad_input_through_the_process_boundary(clinc10: Path, env: dict[str, str], tmp_path: Path) -> None:
    lines = (clinc10 / "test.jsonl").read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([*lines[:4], "{broken", *lines[4:]]) + "\n")
    ev = _run(
        [
            "evaluate",
            "--train",
            str(clinc10 / "seed.jsonl"),
            "--pool",
            str(clinc10 / "pool.jsonl"),
            "--test",
            str(bad),
            "--json",
        ],
        env,
    )
    assert ev.returncode == 1
    assert ev.stdout == ""
    assert ev.stderr.strip().splitlines() == [
        f"redline: error: {bad}:5: invalid JSON: Expecting property name enclosed in double quotes (column 2)"
    ]
