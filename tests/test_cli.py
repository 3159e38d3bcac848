"""The CLI dispatcher: help, version, and one clear line for a RedlineError."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from redline import __version__, cli
from redline.errors import InputDataError, JudgeError


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "usage: redline" in capsys.readouterr().err


def test_version_flag() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "redline", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"redline {__version__}"


@pytest.mark.parametrize(
    ("error", "code"), [(InputDataError("bad.jsonl:3: invalid JSON"), 1), (JudgeError("down"), 2)]
)
def test_redline_error_becomes_one_line_and_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: Exception, code: int
) -> None:
    def fail(args: argparse.Namespace) -> int:
        raise error

    real_build = cli.build_parser

    def build_with_failing_command() -> argparse.ArgumentParser:
        parser = real_build()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.add_parser("explode").set_defaults(func=fail)
        return parser

    monkeypatch.setattr(cli, "build_parser", build_with_failing_command)
    assert cli.main(["explode"]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("redline: error: ") and str(error) in err
