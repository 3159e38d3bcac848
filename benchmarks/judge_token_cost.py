"""LLM tokens R.E.D. spends against an LLM that classifies every text with all labels in its prompt.

R.E.D. calls the judge only for the texts the engine delegates (its budget: judge calls as a share
of the pool), and each call is a short yes/no prompt (label, c nearest examples, text). The
alternative is one call per text whose prompt lists every label. Both sides are measured on the
same endpoint: the judge's tokens per judgement by the evaluation itself, the flat classifier's by
sending real classification prompts (all label names, the text, "reply with the label") and
reading the server's ``usage``. The label list holds names only, the cheapest prompt such a
classifier could use, so the ratio is conservative in the flat classifier's favour.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"

FLAT_SYSTEM = (
    "You classify customer requests into exactly one intent from a fixed list. "
    "Reply with the intent name only, exactly as written in the list."
)


def flat_messages(text: str, labels: Sequence[str]) -> list[dict[str, str]]:
    """Chat messages asking an LLM to pick one of ``labels`` for ``text``."""
    user = "Intents:\n" + "\n".join(labels) + f"\n\nRequest: {text}\nIntent:"
    return [{"role": "system", "content": FLAT_SYSTEM}, {"role": "user", "content": user}]


async def measure_flat_tokens(
    client: Any, model: str, texts: Sequence[str], labels: Sequence[str], max_tokens: int = 16
) -> dict[str, float]:
    """Send flat classification prompts for ``texts``; return mean prompt/completion tokens and latency."""
    prompt, completion, latency = [], [], []
    for text in texts:
        start = time.perf_counter()
        response = await client.chat.completions.create(
            model=model, messages=flat_messages(text, labels), max_tokens=max_tokens, temperature=0.0
        )
        latency.append((time.perf_counter() - start) * 1000.0)
        usage = response.usage
        prompt.append(float(usage.prompt_tokens))
        completion.append(float(usage.completion_tokens))
    return {
        "texts_measured": len(texts),
        "labels_in_prompt": len(labels),
        "prompt_tokens": round(float(np.mean(prompt)), 1),
        "completion_tokens": round(float(np.mean(completion)), 1),
        "total_tokens": round(float(np.mean(prompt) + np.mean(completion)), 1),
        "latency_ms": round(float(np.mean(latency)), 1),
    }


async def count_tokens(base_url: str, model: str, text: str) -> int | None:
    """Tokens of ``text`` by the server's tokenizer (llama.cpp's ``/extras/tokenize/count``); None
    where the endpoint has no such route."""
    import httpx

    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        async with httpx.AsyncClient(timeout=60.0) as client:
            body = {"input": text, "model": model}
            response = await client.post(f"{root}/extras/tokenize/count", json=body)
        if response.status_code != 200:
            return None
        return int(response.json()["count"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def engine_operating_point(default_calls_per_text: float | None = None) -> dict[str, Any]:
    """Judge calls per pool text at the engine's operating point.

    The engine's judge budget is counted in calls (each yes/no question is one call) as a share of the
    pool (``LoopConfig.budget``, default 0.2). Read from ``benchmarks/results/*engine*.json`` when such
    a file records ``judge_calls_per_text``; otherwise ``default_calls_per_text`` or the engine's
    default budget, marked so (the budget is an upper bound: the loop may stop before spending it).
    """
    for path in sorted(RESULTS.glob("*engine*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        found = _find_keys(data, ("judge_calls_per_text",))
        if found is not None:
            return {"source": str(path.relative_to(RESULTS.parent.parent)), "judge_calls_per_text": found}
    if default_calls_per_text is not None:
        return {"source": "--judge-calls-per-text", "judge_calls_per_text": default_calls_per_text}
    from redline.core.config import LoopConfig

    return {
        "source": "LoopConfig().budget: the engine's default judge budget, calls per pool text (upper bound)",
        "judge_calls_per_text": LoopConfig().budget,
    }


def _find_keys(data: Any, keys: Sequence[str]) -> float | None:
    if isinstance(data, dict):
        for key in keys:
            value = data.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        for value in data.values():
            found = _find_keys(value, keys)
            if found is not None:
                return found
    return None


def compare(
    red_tokens_per_judgement: float, operating_point: dict[str, Any], flat: dict[str, float]
) -> dict[str, Any]:
    """Tokens per stream text: R.E.D. (judge calls per text × tokens per judgement) against the flat LLM."""
    red = operating_point["judge_calls_per_text"] * red_tokens_per_judgement
    flat_total = flat["total_tokens"]
    return {
        "operating_point": operating_point,
        "red_tokens_per_judgement": round(red_tokens_per_judgement, 1),
        "red_tokens_per_stream_text": round(red, 1),
        "flat_llm": flat,
        "flat_tokens_per_stream_text": flat_total,
        "red_share_of_flat_tokens": round(red / flat_total, 4) if flat_total else None,
        "target_share": 0.05,
    }
