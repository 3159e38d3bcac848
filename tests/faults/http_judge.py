"""An OpenAI-compatible judge over real HTTP, served from a thread of the test: an expert that answers
from the ground truth, and that can be made slow or answer 503 for a while.

The worker talks to it with its real ``openai`` judge client (``--judge openai:judge``,
``OPENAI_BASE_URL``); the answer is "Yes" when the text's true label is the label asked about.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from redline.testing.openai_mock import Reply, completion_body

_ANGLE = str.maketrans({"<": "‹", ">": "›"})
YES = Reply("Yes", top=(("Yes", -0.02), ("No", -4.0)))
NO = Reply("No", top=(("No", -0.02), ("Yes", -4.0)))


class HttpJudge:
    """The judge's state, read and changed by the test while the server runs.

    Parameters
    ----------
    truth : mapping of str to str
        text -> true label.
    delay_s : float
        Seconds each answer takes.
    """

    def __init__(self, truth: Mapping[str, str], delay_s: float = 0.0) -> None:
        self.truth = {text.translate(_ANGLE): label for text, label in truth.items()}
        self.delay_s = delay_s
        self.down = False
        self.lock = threading.Lock()
        self.answered = 0
        self.refused = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.port = 0

    @property
    def base_url(self) -> str:
        """The OpenAI base URL to give the worker."""
        return f"http://127.0.0.1:{self.port}/v1"

    def reply(self, body: Mapping[str, Any]) -> Reply:
        """The answer to a chat-completion request: Yes when the truth says the text has the label."""
        user = next(str(m["content"]) for m in body.get("messages", []) if m.get("role") == "user")
        lines = user.splitlines()
        label = json.loads(lines[0].removeprefix("Label: "))
        start, end = lines.index("<text>"), len(lines) - 1 - lines[::-1].index("</text>")
        text = json.loads("\n".join(lines[start + 1 : end]))
        return YES if self.truth.get(text) == label else NO

    def counts(self) -> dict[str, int]:
        """Answers given, requests refused (503), the most requests in flight at once."""
        with self.lock:
            return {"answered": self.answered, "refused": self.refused, "max_in_flight": self.max_in_flight}


def _handler(judge: HttpJudge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: Mapping[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if judge.down:
                self._send(503, {"error": {"message": "down for the test", "code": 503}})
                return
            self._send(200, {"object": "list", "data": [{"id": "judge", "object": "model", "owned_by": "t"}]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            with judge.lock:
                judge.in_flight += 1
                judge.max_in_flight = max(judge.max_in_flight, judge.in_flight)
            try:
                if judge.delay_s:
                    time.sleep(judge.delay_s)
                if judge.down:
                    with judge.lock:
                        judge.refused += 1
                    self._send(503, {"error": {"message": "down for the test", "code": 503}})
                    return
                reply = judge.reply(body)
                with judge.lock:
                    judge.answered += 1
                self._send(200, completion_body(reply, str(body.get("model", "judge"))))
            finally:
                with judge.lock:
                    judge.in_flight -= 1

    return Handler


@contextmanager
def serve(judge: HttpJudge) -> Iterator[HttpJudge]:
    """Serve ``judge`` on a free port of 127.0.0.1 (its ``port`` is set) until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(judge))
    server.daemon_threads = True
    judge.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, name="http-judge", daemon=True)
    thread.start()
    try:
        yield judge
    finally:
        server.shutdown()
        server.server_close()


def truth_of(path: Any) -> dict[str, str]:
    """text -> label of a ``{"text", "label"}`` JSONL file (the fitted folder's ground truth)."""
    with open(path, encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return {str(r["text"]): str(r["label"]) for r in rows}


def judge_env(judge: HttpJudge, **knobs: Any) -> dict[str, str]:
    """The environment that points a worker's ``openai`` judge at ``judge`` (``REDLINE_JUDGE_<KNOB>``)."""
    env = {"OPENAI_BASE_URL": judge.base_url, "OPENAI_API_KEY": "sk-test-fault"}
    env.update({f"REDLINE_JUDGE_{k.upper()}": str(v) for k, v in knobs.items()})
    return env
