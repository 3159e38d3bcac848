"""``redline judge``, ``redline describe`` and ``redline judge-calibrate`` end to end.

The endpoint is a scripted ``httpx.MockTransport`` behind the real ``openai`` client (replacing
``make_judge``), except for the error path, which talks real HTTP to a closed port in a subprocess.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from redline import cli
from redline.adapters.jsonl_files import read_labels
from redline.commands import judge_options
from redline.commands.judge import JUDGE_DEFAULTS
from redline.commands.judge_batch import BATCH_DEFAULTS
from redline.judge.openai_judge import OpenAIJudge
from redline.judge.prompt import prompt_version
from redline.judge.settings import JudgeSettings
from redline.testing.openai_mock import Reply, ScriptedEndpoint

ENV = {"REDLINE_JUDGE_MODEL": "judge", "OPENAI_BASE_URL": "http://judge.test/v1"}


class LetterEmbedder:
    """A deterministic stand-in for the sentence embedder: letter counts."""

    def encode(self, texts: list[str]) -> np.ndarray:
        rows = np.zeros((len(texts), 26), dtype=np.float32)
        for i, text in enumerate(texts):
            for ch in text.lower():
                if "a" <= ch <= "z":
                    rows[i, ord(ch) - 97] += 1
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.where(norms > 0, norms, 1)


def _label_and_text(body: dict[str, Any]) -> tuple[str, str]:
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    label = json.loads(re.search(r'^Label: (".*")$', user, re.MULTILINE).group(1))  # type: ignore[union-attr]
    text = json.loads(user.split("<text>\n", 1)[1].rsplit("\n</text>", 1)[0])
    return label, text


def knows_the_answer(body: dict[str, Any]) -> Reply:
    """P(yes)=0.8 when the text starts with the label's name, else 0.3; the word is always 'No'."""
    label, text = _label_and_text(body)
    p = 0.8 if text.startswith(label) else 0.3
    return Reply("No", top=(("Yes", math.log(p)), ("No", math.log(1 - p))), tokens_in=60, tokens_out=1)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("REDLINE_JUDGE", "OPENAI_", "REDLINE_DESCRIBE")):
            monkeypatch.delenv(name)


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> ScriptedEndpoint:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    scripted = ScriptedEndpoint(answer=knows_the_answer)

    def make_judge(settings: JudgeSettings) -> OpenAIJudge:
        return OpenAIJudge(settings, http_client=scripted.client())

    monkeypatch.setattr(judge_options, "make_judge", make_judge)
    monkeypatch.setattr(judge_options, "make_embedder", LetterEmbedder)
    return scripted


@pytest.fixture
def train(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    rows = []
    for label in ("alpha", "beta", "gamma", "delta"):
        for i in range(5):
            rows.append({"text": f"{label} sample {i} {'x' * i}", "label": label})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_judge_prints_one_json_verdict(
    endpoint: ScriptedEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["judge", "--text", "alpha please", "--label", "alpha", "--description", "Alpha things."])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(out) == 1
    verdict = json.loads(out[0])
    assert verdict["valid"] is True and verdict["p_yes"] == pytest.approx(0.8)
    assert verdict["tokens"] == {"in": 60, "out": 1} and verdict["latency_ms"] > 0
    assert set(verdict) >= {"valid", "p_yes", "latency_ms", "tokens", "reason", "prompt_version"}
    assert '"Alpha things."' in endpoint.user_prompt()


def test_judge_shows_the_nearest_examples_of_the_label(
    endpoint: ScriptedEndpoint, train: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(
        [
            "judge",
            "--text",
            "beta sample xxxx",
            "--label",
            "beta",
            "--examples",
            str(train),
            "--examples-shown",
            "2",
        ]
    )
    assert code == 0
    user = endpoint.user_prompt()
    assert 'Examples:\n"beta sample 4 xxxx"\n"beta sample 3 xxx"\nQuestion:' in user  # nearest first, c=2
    assert "alpha" not in user and "beta sample 0" not in user
    assert json.loads(capsys.readouterr().out)["valid"] is True


def test_judge_unknown_label_in_examples_is_one_line(
    endpoint: ScriptedEndpoint, train: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["judge", "--text", "t", "--label", "omega", "--examples", str(train)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"redline: error: {train}: no examples of label 'omega'"]
    assert endpoint.requests == 0


def test_describe_writes_editable_labels_jsonl(
    endpoint: ScriptedEndpoint, train: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def describe(body: dict[str, Any]) -> Reply:
        user = body["messages"][1]["content"]
        label = json.loads(re.search(r'^Label: (".*")$', user, re.MULTILINE).group(1))  # type: ignore[union-attr]
        return Reply(f'Description: "Texts that are about {label}."', top=None, tokens_in=100, tokens_out=9)

    endpoint.answer = describe
    out = tmp_path / "labels.jsonl"
    code = cli.main(["describe", "--train", str(train), "--out", str(out), "--model", "bigger", "--quiet"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["labels"] == 4 and summary["empty"] == 0 and summary["model"] == "bigger"
    assert summary["tokens"] == {"in": 400, "out": 36}
    assert {b["model"] for b in endpoint.bodies} == {"bigger"}
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["prompt_version"] for r in records} == {"describe-v1"}
    assert read_labels(out) == {
        name: f"Texts that are about {name}." for name in ("alpha", "beta", "delta", "gamma")
    }


def test_judge_calibrate_fits_and_the_judge_uses_it(
    endpoint: ScriptedEndpoint, train: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "calibration.json"
    code = cli.main(
        ["judge-calibrate", "--train", str(train), "--out", str(out), "--per-label", "2", "--quiet"]
    )
    assert code == 0
    capsys.readouterr()
    record = json.loads(out.read_text())
    # the model always *says* No, but P(yes) separates right (0.8) from nearest-wrong (0.3) labels
    assert record["questions"] == 4 * 2 * 2 and record["scored"] == 16
    assert 0.3 < record["threshold"] < 0.8
    assert record["accuracy"] == 1.0 and record["roc_auc"] == 1.0
    assert record["word_accuracy"] == 0.5
    assert record["prompt_version"] == prompt_version("mask", "text") and record["model"] == "judge"
    assert record["tokens"]["in"] == 16 * 60

    # a verdict at P(yes)=0.3 is "no" either way; --threshold 0.2 flips it, the calibration does not
    args = ["judge", "--text", "beta thing", "--label", "alpha"]
    assert cli.main([*args, "--calibration", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is False
    assert cli.main([*args, "--threshold", "0.2"]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True

    # a calibration fitted for another prompt version is refused in one line
    assert cli.main([*args, "--calibration", str(out), "--hardening", "none"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"was fitted for prompt {prompt_version('mask', 'text')}" in err[0]


def test_judge_calibrate_without_logprobs_fails_clearly(
    endpoint: ScriptedEndpoint, train: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.answer = None
    endpoint.default = Reply("Yes", top=None)
    code = cli.main(
        [
            "judge-calibrate",
            "--train",
            str(train),
            "--out",
            str(tmp_path / "c.json"),
            "--quiet",
            "--no-logprobs",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does the endpoint return logprobs" in err[0]


def test_missing_model_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REDLINE_JUDGE_MODEL", raising=False)
    assert cli.main(["judge", "--text", "t", "--label", "l"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "redline: error: REDLINE_JUDGE_MODEL (or --model) is required: the name of the judge's model"
    ]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_endpoint_real_http_exit_2_one_line(tmp_path: Path) -> None:
    port = _closed_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "REDLINE_JUDGE_MODEL": "judge"}
    proc = subprocess.run(
        [sys.executable, "-m", "redline", "judge", "--text", "change my pin", "--label", "change_pin",
         "--base-url", f"http://127.0.0.1:{port}/v1", "--max-retries", "2", "--retry-base-delay", "0.01"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(
        f"redline: error: judge endpoint http://127.0.0.1:{port}/v1 failed after 2 retries"
    )
    assert "cannot connect" in lines[0]


#: an option's text and the value it gives, different from the default, per field
OPTION_VALUES: dict[str, tuple[list[str], object]] = {
    "model": (["--model", "other"], "other"),
    "base_url": (["--base-url", "http://127.0.0.1:1/v1"], "http://127.0.0.1:1/v1"),
    "temperature": (["--temperature", "0.7"], 0.7),
    "max_tokens": (["--answer-max-tokens", "12"], 12),
    "timeout_s": (["--timeout", "9.5"], 9.5),
    "max_retries": (["--max-retries", "7"], 7),
    "backoff_base_s": (["--retry-base-delay", "0.25"], 0.25),
    "backoff_max_s": (["--retry-max-delay", "3"], 3.0),
    "jitter": (["--retry-jitter", "0.1"], 0.1),
    "max_retry_after_s": (["--max-retry-after", "5"], 5.0),
    "max_in_flight": (["--max-in-flight", "9"], 9),
    "price_in_per_1k": (["--price-in", "0.5"], 0.5),
    "price_out_per_1k": (["--price-out", "2"], 2.0),
    "use_logprobs": (["--no-logprobs"], False),
    "top_logprobs": (["--top-logprobs", "3"], 3),
    "response_format": (["--response-format", "json"], "json"),
    "threshold": (["--threshold", "0.3"], 0.3),
    "hardening": (["--hardening", "flag"], "flag"),
    "max_examples": (["--examples-shown", "5"], 5),
    "breaker_threshold": (["--breaker-threshold", "2"], 2),
    "breaker_probe_interval_s": (["--breaker-probe-interval", "0.5"], 0.5),
    "max_outage_s": (["--max-outage", "30"], 30.0),
    "reachability_timeout_s": (["--reachability-timeout", "1.5"], 1.5),
    "cache_enabled": (["--no-verdict-cache"], False),
    "cache_path": (["--cache", "/tmp/c.sqlite"], "/tmp/c.sqlite"),
    "cache_max_entries": (["--cache-max-entries", "10"], 10),
    "jitter_seed": (["--jitter-seed", "42"], 42),
}
REQUIRED = {
    "judge": ["--text", "t", "--label", "l"],
    "describe": ["--train", "t.jsonl", "--out", "o.jsonl"],
    "judge-calibrate": ["--train", "t.jsonl", "--out", "o.json"],
}


def test_every_judge_setting_but_the_key_has_an_option() -> None:
    assert (
        set(judge_options.JUDGE_FLAGS) == set(JudgeSettings.model_fields) - {"api_key"} == set(OPTION_VALUES)
    )


@pytest.mark.parametrize("command", sorted(REQUIRED))
@pytest.mark.parametrize("name", sorted(OPTION_VALUES))
def test_each_option_sets_its_setting_on_every_command(command: str, name: str) -> None:
    argv, expected = OPTION_VALUES[name]
    model = [] if name == "model" else ["--model", "m"]
    args = cli.build_parser().parse_args([command, *REQUIRED[command], *model, *argv])
    settings = judge_options.settings_from_args(args)
    assert getattr(settings, name) == expected
    baseline = judge_options.settings_from_args(
        cli.build_parser().parse_args([command, *REQUIRED[command], "--model", "m"])
    )
    changed = {f for f in JudgeSettings.model_fields if getattr(settings, f) != getattr(baseline, f)}
    assert changed == {name}


def test_command_defaults_give_way_to_the_environment_and_options(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = cli.build_parser()
    monkeypatch.setenv("REDLINE_JUDGE_MODEL", "m")
    one = ["judge", *REQUIRED["judge"]]
    batch = ["describe", *REQUIRED["describe"]]

    def settings(argv: list[str], defaults: dict[str, object]) -> JudgeSettings:
        return judge_options.settings_from_args(parser.parse_args(argv), defaults=defaults)

    assert settings(one, JUDGE_DEFAULTS).breaker_threshold == 0  # one question: no breaker
    assert settings([*one, "--breaker-threshold", "3"], JUDGE_DEFAULTS).breaker_threshold == 3
    assert settings(batch, BATCH_DEFAULTS).max_outage_s == 300.0  # batch jobs wait longer
    assert settings([*batch, "--max-outage", "5"], BATCH_DEFAULTS).max_outage_s == 5.0
    monkeypatch.setenv("REDLINE_JUDGE_MAX_OUTAGE_S", "42")
    assert settings(batch, BATCH_DEFAULTS).max_outage_s == 42.0
    assert settings([*batch, "--json-format"], BATCH_DEFAULTS).response_format == "json"


def test_an_invalid_option_value_is_one_line(
    endpoint: ScriptedEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["judge", "--text", "t", "--label", "l", "--max-outage", "0", "--max-retries", "x"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--max-outage='0' must be > 0" in err[0] and "--max-retries='x' is not an integer" in err[0]
    assert endpoint.requests == 0


def test_the_judge_options_show_their_variables_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["judge-calibrate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--max-outage MAX_OUTAGE_S seconds a request waits for a down endpoint" in out
    assert "REDLINE_JUDGE_MAX_OUTAGE_S; default 120.0" in out and "REDLINE_JUDGE_PRICE_IN" in out
    assert "--logprobs, --no-logprobs" in out and "OPENAI_API_KEY only" in out


def test_building_the_parser_loads_neither_pydantic_nor_openai() -> None:
    code = (
        "import argparse, sys\n"
        "from redline.commands import judge\n"
        "judge.register(argparse.ArgumentParser().add_subparsers())\n"
        "heavy = ('pydantic', 'pydantic_settings', 'openai', 'sklearn')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
