"""One request to an OpenAI-compatible ``/v1/chat/completions`` endpoint, and what went wrong.

:class:`ChatEndpoint` builds the request for a :class:`~redline.judge.prompt.JudgePrompt`, sends it
through ``openai.AsyncOpenAI`` (whose own retries are off: :mod:`redline.judge.resilience` does
them) under a per-call timeout, and returns a :class:`~redline.judge.openai_response.Completion`.
A failed call raises one of the :class:`CallFailure` kinds below, with a message from which the API
key and any credentials in the URL are removed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import openai

from redline.errors import JudgeError
from redline.judge.openai_response import Completion, extract_completion
from redline.judge.prompt import JudgePrompt
from redline.judge.retry_policy import parse_retry_after
from redline.judge.settings import JudgeSettings


class CallFailure(JudgeError):
    """A call that did not give a usable completion; ``kind`` is its error kind in the stats."""

    kind = "call"


class RetryableFailure(CallFailure):
    """429, 408, 409, 5xx, a timeout or a broken connection: worth another attempt.

    ``endpoint_down`` says the endpoint itself looks down (connection, 5xx); a timeout is down only
    when the endpoint does not answer a reachability check either (``timed_out``).
    """

    def __init__(
        self, message: str, *, kind: str, retry_after: float | None = None, endpoint_down: bool = False
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after
        self.endpoint_down = endpoint_down
        self.timed_out = kind == "timeout"


class RejectedRequest(CallFailure):
    """401, 403 or 404: the credentials or the model are wrong; asking again will not help."""

    kind = "rejected"


class RefusedRequest(CallFailure):
    """Another 4xx (400, 422, ...): the endpoint is up but refuses this request."""

    kind = "http_4xx"


class MalformedResponse(CallFailure):
    """The endpoint answered 200 with a body that is not a chat completion."""

    kind = "malformed"


def public_url(url: str | None) -> str:
    """``url`` without user and password (what messages may show); api.openai.com when None."""
    if not url:
        return "api.openai.com"
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class ChatEndpoint:
    """The judge's connection to one chat-completions endpoint.

    Parameters
    ----------
    settings : JudgeSettings
    http_client : httpx.AsyncClient, optional
        Transport for the ``openai`` client (tests pass one with a mock transport; typed loosely
        because recent ``openai`` releases declare their own ``httpx2`` client type).
    client : openai.AsyncOpenAI, optional
        A ready client (its own retries should be 0); overrides ``http_client``.
    """

    def __init__(
        self,
        settings: JudgeSettings,
        *,
        http_client: Any | None = None,
        client: openai.AsyncOpenAI | None = None,
    ) -> None:
        self.settings = settings
        self.where = public_url(settings.base_url)
        self._owns_client = client is None
        self._secret = settings.api_key.get_secret_value()
        self.client = client or openai.AsyncOpenAI(
            api_key=self._secret,
            base_url=settings.base_url,
            timeout=settings.timeout_s + 1.0,
            max_retries=0,
            http_client=http_client,
        )

    def judge_request(self, prompt: JudgePrompt, *, logprobs: bool) -> dict[str, Any]:
        """The request body asking ``prompt`` (JSON mode when the prompt asks for JSON)."""
        json_mode = prompt.version.endswith(":json")
        request: dict[str, Any] = {
            "model": self.settings.model,
            "messages": prompt.messages(),
            "temperature": self.settings.temperature,
            "max_tokens": max(self.settings.max_tokens, 16) if json_mode else self.settings.max_tokens,
        }
        if logprobs:
            request["logprobs"] = True
            if self.settings.top_logprobs:
                request["top_logprobs"] = self.settings.top_logprobs
        if json_mode:
            request["response_format"] = {"type": "json_object"}
        return request

    def free_text_request(self, messages: list[dict[str, str]], *, max_tokens: int) -> dict[str, Any]:
        """The request body of a free-text completion (label descriptions)."""
        return {
            "model": self.settings.model,
            "messages": messages,
            "temperature": self.settings.temperature,
            "max_tokens": max_tokens,
        }

    async def complete(self, request: dict[str, Any]) -> Completion:
        """Send one request within ``timeout_s``; a :class:`CallFailure` when it fails."""
        started = time.perf_counter()
        timeout_s = self.settings.timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                response = await self.client.chat.completions.create(**request)
        except (TimeoutError, openai.APITimeoutError):
            raise RetryableFailure(f"timed out after {timeout_s:g} s", kind="timeout") from None
        except openai.APIConnectionError as exc:
            raise RetryableFailure(
                f"cannot connect ({self.clean(_cause(exc))})", kind="connection", endpoint_down=True
            ) from None
        except openai.APIStatusError as exc:
            raise self._status_failure(exc) from None
        except (ValueError, openai.APIResponseValidationError) as exc:  # e.g. a body that is not JSON
            raise MalformedResponse(f"malformed response from the endpoint: {self.clean(str(exc))}") from None
        latency_ms = (time.perf_counter() - started) * 1000.0
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise MalformedResponse("malformed response from the endpoint: no choices in the body")
        return Completion(*extract_completion(response), latency_ms=latency_ms)

    def _status_failure(self, exc: openai.APIStatusError) -> CallFailure:
        status = exc.status_code
        brief = self.clean(_brief(exc))
        if status == 429 or status >= 500 or status in (408, 409):
            kind = "http_429" if status == 429 else "http_5xx" if status >= 500 else "http_4xx"
            return RetryableFailure(
                f"HTTP {status}: {brief}",
                kind=kind,
                retry_after=parse_retry_after(exc.response.headers),
                endpoint_down=status >= 500,
            )
        if status in (401, 403, 404):
            return RejectedRequest(
                f"judge endpoint {self.where} refused model {self.settings.model!r} ({status}): {brief}"
            )
        return RefusedRequest(f"endpoint refused the request ({status}): {brief}")

    async def answers(self) -> bool:
        """Whether the endpoint answers ``GET /models`` quickly with any HTTP status.

        Asked after a timeout: a slow model times out on an endpoint that is up; a hung or
        unreachable server answers nothing. Only the latter is "down".
        """
        limit = self.settings.reachability_timeout_s
        try:
            async with asyncio.timeout(limit):
                await self.client.get(
                    "/models", cast_to=httpx.Response, options={"timeout": limit + 1.0, "max_retries": 0}
                )
        except (TimeoutError, openai.APIConnectionError):  # APITimeoutError included
            return False
        except Exception:  # an HTTP error status or an odd body: something answered
            return True
        return True

    def clean(self, text: str) -> str:
        """``text`` on one line, at most 200 characters, with the API key replaced by ``***``
        (servers may echo what they were sent)."""
        if len(self._secret) >= 4:
            text = text.replace(self._secret, "***")
        return " ".join(text.split())[:200]

    async def aclose(self) -> None:
        """Close the HTTP client when this endpoint created it."""
        if self._owns_client:
            await self.client.close()


def _brief(exc: openai.APIStatusError) -> str:
    body = exc.body
    message: object = None
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else body.get("message") or error
    return str(message or exc.message)


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    text = str(cause) if cause is not None and str(cause) else str(exc)
    return text.strip() or type(exc).__name__
