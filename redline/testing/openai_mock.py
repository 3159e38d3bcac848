"""A scripted OpenAI-compatible chat endpoint behind ``httpx.MockTransport``, for unit tests.

Unit tests of the judge adapter and the judge commands pass
``httpx.AsyncClient(transport=endpoint.transport())`` to ``openai.AsyncOpenAI``; every request
the real ``openai`` client sends reaches :meth:`ScriptedEndpoint.handle`, which answers with the
next scripted :class:`Reply` (or ``answer(body)``), counts requests and tracks concurrency.
Integration tests use a real server instead (:mod:`redline.testing.llm_server`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Reply:
    """One scripted answer.

    Parameters
    ----------
    content : str or None
        The assistant message.
    top : sequence of (token, logprob), optional
        Alternatives of the first answer token (omitted from the response when None).
    status : int
        HTTP status; non-200 answers carry an OpenAI-style error body.
    headers : dict
        Extra response headers (e.g. ``Retry-After``).
    delay_s : float
        Seconds to wait before answering (to provoke timeouts, measure concurrency).
    connect_error : bool
        Fail like an unreachable server instead of answering.
    tokens_in, tokens_out : int
        Usage to report.
    raw_body : str, optional
        Send this text as the (JSON-typed) body instead of a completion.
    """

    content: str | None = "Yes"
    top: Sequence[tuple[str, float]] | None = (("Yes", -0.1), ("No", -2.4))
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    connect_error: bool = False
    tokens_in: int = 50
    tokens_out: int = 1
    raw_body: str | None = None


def completion_body(reply: Reply, model: str = "judge") -> dict[str, Any]:
    """The JSON body of a chat completion carrying ``reply``."""
    logprobs = None
    if reply.top is not None:
        first = reply.top[0] if reply.top else ("", 0.0)
        logprobs = {
            "content": [
                {
                    "token": first[0],
                    "logprob": first[1],
                    "bytes": None,
                    "top_logprobs": [{"token": t, "logprob": lp, "bytes": None} for t, lp in reply.top],
                }
            ]
        }
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": reply.content},
                "logprobs": logprobs,
            }
        ],
        "usage": {
            "prompt_tokens": reply.tokens_in,
            "completion_tokens": reply.tokens_out,
            "total_tokens": reply.tokens_in + reply.tokens_out,
        },
    }


class ScriptedEndpoint:
    """Answers chat-completion requests from a script, then from ``answer`` or ``default``.

    Parameters
    ----------
    script : sequence of Reply, optional
        Answers for the first requests, in arrival order.
    answer : callable, optional
        ``answer(request_body) -> Reply`` for requests beyond the script.
    default : Reply, optional
        Used when neither applies.
    models : Reply, optional
        How ``GET /models`` answers (the judge's reachability check); its ``status``, ``delay_s``
        and ``connect_error`` apply. Default: 200 with a list of one model. These requests are
        counted in ``model_requests``, not in ``requests``, and never consume the script.
    """

    def __init__(
        self,
        script: Sequence[Reply] = (),
        *,
        answer: Callable[[dict[str, Any]], Reply] | None = None,
        default: Reply | None = None,
        models: Reply | None = None,
    ) -> None:
        self.script = list(script)
        self.answer = answer
        self.default = default or Reply()
        self.models = models or Reply()
        self.model_requests = 0
        self.bodies: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.completed = 0

    @property
    def requests(self) -> int:
        """Requests received so far."""
        return len(self.bodies)

    def _next(self, body: dict[str, Any]) -> Reply:
        index = len(self.bodies) - 1
        if index < len(self.script):
            return self.script[index]
        if self.answer is not None:
            return self.answer(body)
        return self.default

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """The MockTransport handler."""
        if request.method == "GET" and request.url.path.endswith("/models"):
            return await self._handle_models(request)
        body = json.loads(request.content or b"{}")
        self.bodies.append(body)
        reply = self._next(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            if reply.connect_error:
                raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
            if reply.status != 200:
                error = {
                    "error": {"message": f"scripted {reply.status}", "type": "test", "code": reply.status}
                }
                return httpx.Response(reply.status, headers=reply.headers, json=error)
            self.completed += 1
            if reply.raw_body is not None:
                return httpx.Response(200, headers={"content-type": "application/json"}, text=reply.raw_body)
            return httpx.Response(
                200, headers=reply.headers, json=completion_body(reply, body.get("model", ""))
            )
        finally:
            self.in_flight -= 1

    async def _handle_models(self, request: httpx.Request) -> httpx.Response:
        self.model_requests += 1
        reply = self.models
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.connect_error:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if reply.status != 200:
            return httpx.Response(reply.status, json={"error": {"message": f"scripted {reply.status}"}})
        return httpx.Response(
            200, json={"object": "list", "data": [{"id": "judge", "object": "model", "owned_by": "test"}]}
        )

    def transport(self) -> httpx.MockTransport:
        """A MockTransport routed to :meth:`handle`."""
        return httpx.MockTransport(self.handle)

    def client(self) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` for ``openai.AsyncOpenAI(http_client=...)``."""
        return httpx.AsyncClient(transport=self.transport())

    def user_prompt(self, index: int = -1) -> str:
        """The user message of request ``index``."""
        messages = self.bodies[index]["messages"]
        return str(next(m["content"] for m in messages if m["role"] == "user"))
