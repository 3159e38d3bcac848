"""``redline fit / predict / evaluate`` in process, with a word-hashing embedder at the boundary.

The end-to-end runs with the real MiniLM model through a subprocess are in
``test_engine_cli_end_to_end.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from redline.cli import main
from redline.commands import engine as engine_cmd

TOPICS = {
    "weather": ["rain", "sunny", "forecast", "cloudy", "umbrella", "temperature"],
    "music": ["song", "playlist", "jazz", "album", "volume", "guitar"],
    "banking": ["balance", "account", "transfer", "deposit", "card", "bank"],
    "travel": ["flight", "hotel", "airport", "luggage", "passport", "trip"],
}


class WordHashEmbedder:
    """Bag of hashed words, L2-normalised: deterministic and separable for topic-word texts."""

    model_id = "test:word-hash-64"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        X = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                X[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        return X


def _records(n_per_label: int, offset: int, labels: Sequence[str] = tuple(TOPICS)) -> list[dict[str, str]]:
    rng = np.random.default_rng(offset)
    out = []
    for label in labels:
        words = TOPICS[label]
        for i in range(n_per_label):
            picked = rng.choice(words, size=3, replace=False)
            out.append({"text": f"{' '.join(picked)} please {offset + i}", "label": label})
    return out


def _write(path: Path, records: Sequence[dict[str, object]] | str | bytes) -> Path:
    if isinstance(records, bytes):
        path.write_bytes(records)
    elif isinstance(records, str):
        path.write_text(records, encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def embedder(monkeypatch: pytest.MonkeyPatch) -> WordHashEmbedder:
    fake = WordHashEmbedder()
    monkeypatch.setattr(engine_cmd, "make_embedder", lambda settings: fake)
    return fake


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "train": _write(tmp_path / "train.jsonl", _records(8, 0)),
        "pool": _write(tmp_path / "pool.jsonl", _records(25, 1000)),
        "test": _write(tmp_path / "test.jsonl", _records(10, 5000)),
        "labels": _write(
            tmp_path / "labels.jsonl", [{"label": k, "description": f"about {k}"} for k in TOPICS]
        ),
    }


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("redline: error: ")
    return err[0].removeprefix("redline: error: ")


def _evaluate_argv(files: dict[str, Path]) -> list[str]:
    """``redline evaluate`` with the fixture's train / pool / test files."""
    return ["evaluate", *(f"--{name}={files[name]}" for name in ("train", "pool", "test"))]


def test_fit_then_predict(
    embedder: WordHashEmbedder, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model"
    argv = ["fit", "--train", str(files["train"]), "--labels", str(files["labels"])]
    assert main([*argv, "--out", str(model), "--no-progress"]) == 0
    assert "fitted 4 labels on 32 examples" in capsys.readouterr().out
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["metadata"]["embedder"] == WordHashEmbedder.model_id
    assert manifest["metadata"]["kind"] == "redline.RedClassifier"
    quantiles = manifest["metadata"]["uncertainty_quantiles"]  # held out: warm-start the judge budget
    assert (
        len(quantiles) == 101
        and quantiles == sorted(quantiles)
        and 0.0 <= quantiles[0] < quantiles[-1] <= 1.0
    )

    inputs = [{"text": "jazz guitar album", "id": "a"}, {"text": "flight hotel passport", "label": "travel"}]
    _write(tmp_path / "x.jsonl", inputs)
    out = tmp_path / "y.jsonl"
    rc = main(["predict", "--model", str(model), "--in", str(tmp_path / "x.jsonl"), "--out", str(out)])
    assert rc == 0
    assert "accuracy on the 1 labelled input texts: 1.0000" in capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["prediction"] for r in rows] == ["music", "travel"]
    assert rows[0]["id"] == "a" and "label" not in rows[0] and rows[1]["label"] == "travel"
    for r in rows:
        ps = [c["p"] for c in r["candidates"]]
        assert len(ps) == 3 and ps == sorted(ps, reverse=True) and sum(ps) <= 1.0 + 1e-6
        assert r["candidates"][0]["label"] == r["prediction"] and r["confidence"] == ps[0]
        assert 0.0 <= r["uncertainty"] <= 1.0


def test_predict_refuses_a_model_of_other_embeddings(
    embedder: WordHashEmbedder, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model"
    assert main(["fit", "--train", str(files["train"]), "--out", str(model)]) == 0
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["metadata"]["embedder"] = "someone-else/model"
    (model / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    rc = main(
        ["predict", "--model", str(model), "--in", str(files["test"]), "--out", str(tmp_path / "y.jsonl")]
    )
    assert rc == 1
    assert "fitted on embeddings of someone-else/model" in _one_error_line(capsys)
    assert not (tmp_path / "y.jsonl").exists()


def test_predict_without_a_model(
    embedder: WordHashEmbedder, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["predict", "--model", str(tmp_path / "nope"), "--in", str(files["test"]), "--out", "y.jsonl"])
    assert rc == 1
    assert _one_error_line(capsys) == f"{tmp_path / 'nope'}: no model here (missing manifest.json)"


def test_evaluate_json_and_plot(
    embedder: WordHashEmbedder, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "curve.png"
    argv = _evaluate_argv(files)
    argv += ["--labels", str(files["labels"]), "--judge", "simulated:0.9", "--budget", "0.3", "--seed", "1"]
    assert main([*argv, "--json", "--plot", str(plot), "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in (
        "accuracy",
        "macro_f1",
        "baseline_accuracy",
        "delivered_accuracy",
        "unresolved",
        "judge_calls",
        "pool_size",
        "rounds",
        "rounds_detail",
        "error_auroc",
    ):
        assert key in result, key
    assert result["pool_size"] == 100
    assert result["accuracy"] > 0.8 and result["baseline_accuracy"] > 0.8  # chance is 0.25
    assert 0.0 <= result["delivered_accuracy"] <= 1.0
    assert 0 < result["judge_calls"] <= 30
    assert len(result["rounds_detail"]) == result["rounds"] + 1
    assert result["judge_spec"] == "simulated:0.9" and result["config"]["engine"]["seed"] == 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same inputs and seed give the same metrics
    assert main([*argv, "--json", "--no-progress"]) == 0
    again = json.loads(capsys.readouterr().out)
    for key in ("accuracy", "delivered_accuracy", "judge_calls", "unresolved", "rounds"):
        assert again[key] == result[key]


def test_evaluate_human_summary(
    embedder: WordHashEmbedder, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _evaluate_argv(files)
    assert main([*argv, "--no-progress", "--config", "flat"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy:" in out and "delivered accuracy:" in out and "judge calls:" in out


def _bad(tmp_path: Path, name: str, content: str | bytes) -> Path:
    return _write(tmp_path / name, content)


GOOD = "".join(json.dumps(r) + "\n" for r in _records(3, 0))


@pytest.mark.parametrize(
    ("which", "content", "expected"),
    [
        ("train", "", "{path}: file is empty"),
        ("train", GOOD + '{"text": "x", "label": \n', "{path}:13: invalid JSON: Expecting value (column 24)"),
        ("train", GOOD + '{"text": "caf\xe9", "label": "music"}\n', None),
        ("train", GOOD.encode() + b'{"text": "caf\xe9", "label": "music"}\n', "{path}:13: invalid UTF-8"),
        (
            "train",
            GOOD + '{"text": "only one", "label": "poetry"}\n',
            "{path}:13: label 'poetry' has 1 example",
        ),
        ("train", GOOD + '{"text": "no label"}\n', '{path}:13: missing "label"'),
        ("pool", GOOD + '{"text": "t", "label": "poetry"}\n', "{path}:13: label 'poetry' does not occur in"),
        ("test", GOOD + '{"label": "music"}\n', '{path}:13: missing "text"'),
        ("test", '{"text": "t", "label": "cooking"}\n', "{path}:1: label 'cooking' does not occur in"),
        (
            "labels",
            '{"label": "poetry", "description": "verse"}\n',
            "{path}: label 'poetry' has no examples in",
        ),
    ],
)
def test_evaluate_bad_input_is_one_line_naming_file_and_line(
    embedder: WordHashEmbedder,
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    which: str,
    content: str | bytes,
    expected: str | None,
) -> None:
    paths = dict(files)
    paths[which] = _bad(tmp_path, f"bad-{which}.jsonl", content)
    argv = ["evaluate", "--json", "--no-progress"]
    for key in ("train", "pool", "test", "labels"):
        argv += [f"--{key}", str(paths[key])]
    rc = main(argv)
    if expected is None:  # a non-ASCII text written as proper UTF-8 is fine
        assert rc == 0
        return
    assert rc == 1
    assert _one_error_line(capsys).startswith(expected.format(path=paths[which]))
    assert embedder.calls == 0  # nothing was embedded: input is checked first


def test_fit_bad_input_writes_nothing(
    embedder: WordHashEmbedder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(tmp_path / "t.jsonl", GOOD + "not json\n")
    rc = main(["fit", "--train", str(bad), "--out", str(tmp_path / "model")])
    assert rc == 1
    assert _one_error_line(capsys).startswith(f"{bad}:13: invalid JSON")
    assert not (tmp_path / "model").exists()


def test_fit_refuses_to_overwrite_other_files(
    embedder: WordHashEmbedder, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    assert main(["fit", "--train", str(files["train"]), "--out", str(precious)]) == 1
    assert "is not a redline model folder" in _one_error_line(capsys)
    assert (precious / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--judge", "gpt-4o"], "judge spec 'gpt-4o' not understood"),
        (["--judge", "simulated:1.5"], "judge spec 'simulated:1.5'"),
    ],
)
def test_evaluate_bad_judge(
    embedder: WordHashEmbedder,
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    argv = _evaluate_argv(files)
    assert main([*argv, *extra]) == 1
    assert message in _one_error_line(capsys)
    assert embedder.calls == 0


@pytest.mark.parametrize("budget", ["0", "1.5", "lots"])
def test_evaluate_budget_must_be_a_fraction(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], budget: str
) -> None:
    argv = _evaluate_argv(files)
    with pytest.raises(SystemExit) as info:
        main([*argv, "--budget", budget])
    assert info.value.code == 2
    assert "--budget" in capsys.readouterr().err


def test_unknown_preset_is_rejected(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["fit", "--train", str(files["train"]), "--out", "m", "--config", "magic"])
    assert "invalid choice: 'magic'" in capsys.readouterr().err


def test_predict_reads_stdin_and_writes_stdout(
    embedder: WordHashEmbedder,
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    model = tmp_path / "model"
    assert main(["fit", "--train", str(files["train"]), "--out", str(model), "--no-progress"]) == 0
    capsys.readouterr()

    class FakeStdin:
        buffer = io.BytesIO(b'{"text": "rain forecast umbrella"}\n{"text": "hotel passport trip"}\n')

    monkeypatch.setattr("sys.stdin", FakeStdin())
    assert main(["predict", "--model", str(model), "--in", "-", "--out", "-", "--top-k", "1"]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["prediction"] for r in rows] == ["weather", "travel"]
    assert all(len(r["candidates"]) == 1 for r in rows)
    assert "labelled 2 texts" in captured.err


@pytest.mark.parametrize(
    ("plot", "message"),
    [("curve.txt", "unsupported plot format"), (".", "is a directory, expected an image file")],
)
def test_evaluate_bad_plot_path_fails_before_any_work(
    embedder: WordHashEmbedder,
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    plot: str,
    message: str,
) -> None:
    argv = _evaluate_argv(files)
    assert main([*argv, "--plot", str(tmp_path / plot)]) == 1
    assert message in _one_error_line(capsys)
    assert embedder.calls == 0


def test_evaluate_plot_into_new_folder(
    embedder: WordHashEmbedder, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _evaluate_argv(files)
    plot = tmp_path / "new" / "deeper" / "curve.svg"
    assert main([*argv, "--plot", str(plot), "--no-progress"]) == 0
    assert plot.read_text().lstrip().startswith("<?xml")
    assert f"plot: {plot}" in capsys.readouterr().out


# -- fit --publish ------------------------------------------------------------------------------------


class Publisher:
    """Stands in for the deployment: records what ``fit --publish`` hands over, answers like it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any, bool]] = []
        self.reached: list[str] = []  # the bootstraps checked before fitting
        self.refuse: str | None = None

    async def check_reachable(self, settings: Any) -> None:
        self.reached.append(settings.bootstrap)

    async def publish(self, settings: Any, fitted: Any, *, force: bool) -> Any:
        from redline.errors import ConfigError

        self.calls.append((settings, fitted, force))
        if self.refuse:
            raise ConfigError(self.refuse)
        info = SimpleNamespace(labels=len(fitted.model.classes_), examples=len(fitted.model.texts_))
        return SimpleNamespace(version="v7", info=info)


@pytest.fixture
def publisher(monkeypatch: pytest.MonkeyPatch) -> Publisher:
    from redline.commands import deployment_client, fit_predict

    fake = Publisher()
    monkeypatch.setattr(fit_predict, "publish", fake.publish)
    monkeypatch.setattr(deployment_client, "check_reachable", fake.check_reachable)
    for name in ("REDLINE_BOOTSTRAP", "REDLINE_TOPIC_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    return fake


def test_fit_publish_hands_the_written_model_to_the_deployment(
    embedder: WordHashEmbedder,
    publisher: Publisher,
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = tmp_path / "model"
    argv = ["fit", "--train", str(files["train"]), "--out", str(model), "--publish", "--no-progress"]
    assert main([*argv, "--bootstrap", "kafka:9093", "--topic-prefix", "prod."]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("fitted 4 labels on 32 examples") and out[1:] == [
        "published v7 (4 labels, 32 examples) to prod.models"
    ]
    [(settings, fitted, force)] = publisher.calls
    assert (settings.bootstrap, settings.topic_prefix, force) == ("kafka:9093", "prod.", False)
    assert fitted.folder == model and fitted.metadata["embedder"] == WordHashEmbedder.model_id
    assert publisher.reached == ["kafka:9093"]

    monkeypatch.setenv("REDLINE_BOOTSTRAP", "env-kafka:9092")
    assert main([*argv, "--force"]) == 0
    settings, _, force = publisher.calls[-1]
    assert (settings.bootstrap, settings.topics.models, force) == ("env-kafka:9092", "redline.models", True)


def test_fit_publish_refused_says_where_the_model_is(
    embedder: WordHashEmbedder,
    publisher: Publisher,
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    publisher.refuse = "redline.models already holds a model"
    model = tmp_path / "model"
    assert main(["fit", "--train", str(files["train"]), "--out", str(model), "--publish"]) == 1
    assert (
        _one_error_line(capsys)
        == f"not published: redline.models already holds a model; the model is in {model}"
    )
    assert (model / "manifest.json").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bootstrap", "kafka:9092"], "--bootstrap is used only with --publish"),
        (["--force"], "--force is used only with --publish"),
        (["--kafka-security-protocol", "SSL"], "--kafka-security-protocol is used only with --publish"),
        (["--publish", "--bootstrap", "no-port"], "--bootstrap='no-port' must look like host:port"),
        (["--publish", "--topic-prefix", "a/b"], "may hold only letters, digits"),
        (["--publish", "--bootstrap", "127.0.0.1:1"], "cannot reach Kafka at 127.0.0.1:1"),
    ],
)
def test_fit_publish_problems_are_one_line_before_any_fitting(
    embedder: WordHashEmbedder,
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    message: str,
) -> None:
    for name in ("REDLINE_BOOTSTRAP", "REDLINE_TOPIC_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    model = tmp_path / "model"
    assert main(["fit", "--train", str(files["train"]), "--out", str(model), *extra]) == 1
    assert message in _one_error_line(capsys)
    assert embedder.calls == 0 and not model.exists()


@pytest.mark.integration
@pytest.mark.skipif(
    importlib.util.find_spec("redline.streams.deployment") is None,
    reason="redline.streams.deployment (publish_model) is not in this checkout yet",
)
def test_fit_publish_through_a_real_broker(
    embedder: WordHashEmbedder,
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kafka_bootstrap: str,
) -> None:
    from redline.streams.clients import collect
    from redline.streams.settings import TopicNames

    prefix = f"fit{uuid.uuid4().hex[:8]}."
    models = TopicNames.with_prefix(prefix).models
    argv = ["fit", "--train", str(files["train"]), "--out", str(tmp_path / "model"), "--publish"]
    assert main([*argv, "--bootstrap", kafka_bootstrap, "--topic-prefix", prefix, "--no-progress"]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    got = asyncio.run(
        collect(
            kafka_bootstrap,
            [models],
            lambda g: any(r.key == b"current" for r in g.records[models]),
            timeout_s=60,
        )
    )
    [head] = [r for r in got.records[models] if r.key == b"current"]
    assert line == f"published v{head.offset} (4 labels, 32 examples) to {models}"

    assert main([*argv, "--bootstrap", kafka_bootstrap, "--topic-prefix", prefix]) == 1
    assert "already holds a model" in _one_error_line(capsys)
