"""Fixtures for the adapters' tests: one real OpenAI-compatible LLM server per test session.

``llm_server`` is llama.cpp's server (``llama-cpp-python[server]``) with SmolLM2-135M-Instruct on a
free loopback port, provisioned by :mod:`redline.testing.llm_server` (``make llm-server-deps``
builds and caches it; if it is missing here it is installed on first use, which takes minutes once).
It is started lazily, only when a test asks for it, and stopped at the end of the session.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from redline.errors import LLMServerError
from redline.testing.llm_server import LlamaServer, ensure_deps


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """A running llama.cpp server serving SmolLM2-135M as model ``judge``; see ``.base_url``."""
    try:
        model = ensure_deps(python=sys.executable)
    except LLMServerError as exc:
        pytest.fail(f"cannot provision the local LLM server (try `make llm-server-deps`): {exc}")
    log = tmp_path_factory.mktemp("llm-server") / "server.log"
    server = LlamaServer(model, log_path=log, die_with_parent=True)
    try:
        server.start(timeout=180.0)  # a loaded 2-core CI machine is slow to import and load
    except LLMServerError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()
