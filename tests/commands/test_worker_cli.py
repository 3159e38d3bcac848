"""``redline worker``: its flags (one per setting) and bad start-up input refused with one clear line."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from redline.cli import build_parser, main
from redline.commands.settings_flags import KAFKA_SECURITY_FLAGS, SETTING_ATTR, setting_help
from redline.commands.worker import WORKER_FLAGS, worker_settings
from redline.errors import ConfigError
from redline.streams.kafka_security import KafkaSecurity
from redline.streams.settings import ENV_VARS, StreamSettings

CANARY = "canary-cli-91be"


def _subparser(parser: argparse.ArgumentParser, *path: str) -> argparse.ArgumentParser:
    for name in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return parser


def _setting_actions(parser: argparse.ArgumentParser) -> dict[str, list[argparse.Action]]:
    found: dict[str, list[argparse.Action]] = {}
    for action in parser._actions:
        spec = getattr(action, SETTING_ATTR, None)
        if spec is not None:
            found.setdefault(spec, []).append(action)
    return found


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["worker", *argv])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["worker", "--bootstrap", "127.0.0.1:1"], "cannot reach Kafka at 127.0.0.1:1"),
        (["worker", "--model", "/nonexistent/model"], "no model here"),
        (["worker", "--model", ".", "--bootstrap", "nohost"], "host:port"),
        (["worker", "--model", ".", "--threshold", "2"], "--threshold='2' must lie in [0, 1]"),
        (["worker", "--model", ".", "--judge-share", "1.5"], "--judge-share='1.5' must lie in [0, 1]"),
        (["worker", "--model", ".", "--web-port", "http"], "--web-port='http' is not an integer"),
        (["worker", "--model", ".", "--kafka-security-protocol", "TLS"], "--kafka-security-protocol='TLS'"),
    ],
)
def test_worker_start_up_errors(argv, message, capsys, monkeypatch) -> None:
    for var in ("REDLINE_MODEL_DIR", "REDLINE_BOOTSTRAP"):
        monkeypatch.delenv(var, raising=False)
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("redline: error:") and message in err[0]


def test_worker_refuses_a_model_of_other_embeddings(tmp_path, capsys, monkeypatch) -> None:
    import numpy as np

    from redline.adapters.snapshot_store import FileSnapshotStore, Snapshot
    from redline.core.classifier import RedClassifier
    from redline.core.config import EngineConfig

    for var in ("REDLINE_MODEL_DIR", "REDLINE_BOOTSTRAP"):
        monkeypatch.delenv(var, raising=False)
    X = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
    texts = [f"t{i}" for i in range(12)]
    model = RedClassifier(EngineConfig(scorer="flat")).fit(X, texts, ["a", "b", "c"] * 4)
    folder = tmp_path / "m"
    meta = {"kind": "redline.RedClassifier", "embedder": "someone-else/model"}
    FileSnapshotStore(folder).save("", Snapshot(model.to_state(), meta))
    assert main(["worker", "--model", str(folder), "--bootstrap", "127.0.0.1:1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("redline: error:"), err
    assert f"{folder}: fitted on embeddings of someone-else/model, this run embeds with" in err[0]


def test_every_stream_setting_has_exactly_one_worker_flag_and_one_variable() -> None:
    actions = _setting_actions(_subparser(build_parser(), "worker"))
    expected = {f"redline.streams.settings:StreamSettings.{n}" for n in StreamSettings.model_fields}
    expected.discard("redline.streams.settings:StreamSettings.security")  # its knobs: the --kafka-* flags
    expected |= {f"redline.streams.kafka_security:KafkaSecurity.{n}" for n in KafkaSecurity.model_fields}
    assert set(actions) == expected
    assert all(len(found) == 1 for found in actions.values()), actions
    for spec, (action,) in actions.items():
        field = spec.rpartition(".")[2]
        assert action.dest == field and action.default is None  # None: "not given", the variable applies
        variable = ENV_VARS.get(field) or ENV_VARS[f"security.{field}"]
        assert variable in setting_help(spec)
    assert sorted(WORKER_FLAGS) == sorted(n for n in StreamSettings.model_fields if n != "security")
    assert sorted(KAFKA_SECURITY_FLAGS) == sorted(KafkaSecurity.model_fields)
    flags = [flag for names in (*WORKER_FLAGS.values(), *KAFKA_SECURITY_FLAGS.values()) for flag in names]
    assert len(flags) == len(set(flags))


def test_switches_are_exactly_the_boolean_settings() -> None:
    actions = _setting_actions(_subparser(build_parser(), "worker"))
    switches = {
        spec.rpartition(".")[2]
        for spec, (action,) in actions.items()
        if isinstance(action, argparse.BooleanOptionalAction)
    }
    assert switches == {n for n, f in StreamSettings.model_fields.items() if f.annotation is bool}


def test_help_names_each_variable_and_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["worker", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for variable in ENV_VARS.values():
        assert variable in text
    assert "(REDLINE_PARTITIONS; default 4)" in text and "(REDLINE_METRICS; default on)" in text
    assert "(REDLINE_WORKER_DIR; default .redline/worker)" in text
    assert "(REDLINE_KAFKA_SECURITY_PROTOCOL; default 'PLAINTEXT')" in text


def test_flags_win_over_variables_which_win_over_defaults(tmp_path: Path) -> None:
    env = {"REDLINE_WEB_PORT": "7001", "REDLINE_BATCH_SIZE": "8", "REDLINE_METRICS": "false"}
    args = _args(
        "--web-port", "7002", "--learn-interval", "5", "--truncate-texts", "--data-dir", str(tmp_path)
    )
    settings = worker_settings(args, env)
    assert settings.web_port == 7002 and settings.batch_size == 8 and settings.learn_interval_s == 5.0
    assert settings.metrics is False and settings.truncate_texts is True and settings.data_dir == tmp_path
    assert worker_settings(_args("--metrics"), env).metrics is True
    assert settings.partitions == 4 and settings.judge == "none"


def test_without_data_dir_each_worker_gets_its_own_folder() -> None:
    settings = worker_settings(_args("--app-id", "a", "--web-port", "6100"), {"REDLINE_WORKER_DIR": "/w"})
    assert settings.data_dir == Path("/w") / "a-6100"


def test_kafka_security_flags_and_variables() -> None:
    env = {"REDLINE_KAFKA_SASL_PASSWORD": CANARY, "REDLINE_KAFKA_SASL_USERNAME": "env-user"}
    args = _args(
        "--kafka-security-protocol", "SASL_PLAINTEXT", "--kafka-sasl-mechanism", "PLAIN",
        "--kafka-sasl-username", "bob",
    )  # fmt: skip
    security = worker_settings(args, env).security
    assert security.security_protocol == "SASL_PLAINTEXT" and security.sasl_username == "bob"
    assert security.aiokafka_kwargs()["sasl_plain_password"] == CANARY


def test_a_bad_security_setting_names_the_flag_and_hides_the_password() -> None:
    args = _args("--kafka-security-protocol", "SASL_SSL", "--kafka-sasl-password", CANARY)
    with pytest.raises(ConfigError) as caught:
        worker_settings(args, {})
    message = str(caught.value)
    assert CANARY not in message and "\n" not in message
    assert message == (
        "REDLINE_KAFKA_SASL_MECHANISM (or --kafka-sasl-mechanism) and REDLINE_KAFKA_SASL_USERNAME "
        "(or --kafka-sasl-username) must be set when --kafka-security-protocol is SASL_SSL"
    )


def test_a_bad_password_setting_never_reaches_stderr(capsys, monkeypatch) -> None:
    monkeypatch.setenv("REDLINE_KAFKA_SASL_PASSWORD", CANARY)
    monkeypatch.delenv("REDLINE_KAFKA_SECURITY_PROTOCOL", raising=False)
    assert main(["worker", "--model", ".", "--kafka-sasl-username", "bob"]) == 1
    captured = capsys.readouterr()
    assert CANARY not in captured.err + captured.out
    assert "REDLINE_KAFKA_SASL_PASSWORD" in captured.err and "only apply to SASL" in captured.err


def test_registering_the_settings_flags_does_not_load_pydantic() -> None:
    code = (
        "import argparse, sys\n"
        "from redline.commands import stream, worker\n"
        "sub = argparse.ArgumentParser().add_subparsers()\n"
        "worker.register(sub); stream.register(sub)\n"
        "print(sorted(m for m in ('pydantic', 'pydantic_settings') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
