"""Reading a judge's answer: plain text, JSON (structured output) or log-probabilities.

Everything here returns a value; nothing raises on a strange answer. An answer that cannot be read
yields ``word=None`` / ``p_yes=None`` and the reason, which becomes ``Verdict(valid=None, reason=...)``.

P(yes) comes from the top log-probabilities of the first answer token that carries a yes/no
alternative (for a bare answer that is the first token; for ``{"answer": "yes"}`` it is the token
after the key): ``P(yes) = Σ p(yes-like) / (Σ p(yes-like) + Σ p(no-like))`` over variants such as
``Yes``, ``yes``, `` YES``, ``▁Yes``. When one side is missing from the top list its mass is bounded
by what the listed tokens leave over (and by the smallest listed probability).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_TOKEN_STRIP = " \t\r\n\"'`.,:;!?*()[]{}<>▁Ġ_-"
_WORD = re.compile(r"[a-z]+")
_JSON_KEYS = ("answer", "valid", "verdict", "is_example", "result", "label", "response")

#: token alternatives at one position: (token text, log-probability)
TopLogprobs = Sequence[tuple[str, float]]


@dataclass(frozen=True)
class ParsedAnswer:
    """What could be read from one completion.

    Parameters
    ----------
    word : bool or None
        The yes/no the text (or JSON) says; None when unreadable.
    p_yes : float or None
        P(yes) from log-probabilities; None when not offered or no yes/no alternative was found.
    reason : str
        How it was read (``text``, ``json``, ``logprobs``) or why not.
    """

    word: bool | None
    p_yes: float | None
    reason: str


def _token_polarity(token: str) -> bool | None:
    core = token.strip(_TOKEN_STRIP).lower()
    if core in ("yes", "true"):
        return True
    if core in ("no", "false"):
        return False
    return None


def p_yes_from_top_logprobs(top: TopLogprobs) -> float | None:
    """P(yes) from one position's top log-probabilities, or None without a yes/no alternative.

    Parameters
    ----------
    top : sequence of (str, float)
        The alternatives at one token position with their natural-log probabilities.
    """
    yes = no = 0.0
    listed = 0.0
    smallest = 1.0
    found = False
    for token, logprob in top:
        if not isinstance(logprob, (int, float)) or math.isnan(logprob):
            continue
        p = math.exp(min(float(logprob), 0.0))
        listed += p
        smallest = min(smallest, p)
        polarity = _token_polarity(token)
        if polarity is True:
            yes += p
            found = True
        elif polarity is False:
            no += p
            found = True
    if not found:
        return None
    leftover = max(0.0, min(1.0 - listed, smallest))
    if yes == 0.0:
        yes = leftover
    if no == 0.0:
        no = leftover
    total = yes + no
    if total <= 0.0:
        return None
    return yes / total


def p_yes_from_logprobs(positions: Sequence[TopLogprobs]) -> float | None:
    """P(yes) at the first position (of the first 8) whose alternatives include yes or no."""
    for top in list(positions)[:8]:
        p = p_yes_from_top_logprobs(top)
        if p is not None:
            return p
    return None


def parse_plain(content: str) -> ParsedAnswer:
    """Read yes/no from a plain-text answer ("Yes", "no.", "Answer: YES", "**No**, because ...")."""
    words = _WORD.findall(content.lower())
    if not words:
        return ParsedAnswer(None, None, "empty answer" if not content.strip() else "no words in answer")
    if words[0] == "answer" and len(words) > 1:
        words = words[1:]
    first = words[0]
    rest = [w for w in words[1:3] if w not in ("and", "or")]
    if first in ("yes", "true", "no", "false") and rest and rest[0] in ("yes", "true", "no", "false"):
        if (rest[0] in ("yes", "true")) != (first in ("yes", "true")):
            snippet = " ".join(content.split())[:60]
            return ParsedAnswer(None, None, f"ambiguous answer: {snippet!r}")
    if first in ("yes", "true"):
        return ParsedAnswer(True, None, "text")
    if first in ("no", "false"):
        return ParsedAnswer(False, None, "text")
    head = words[:12]
    has_yes = any(w in ("yes", "true") for w in head)
    has_no = any(w in ("no", "false") for w in head)
    if has_yes and not has_no:
        return ParsedAnswer(True, None, "text (yes found after other words)")
    if has_no and not has_yes:
        return ParsedAnswer(False, None, "text (no found after other words)")
    snippet = " ".join(content.split())[:60]
    why = "ambiguous answer" if has_yes and has_no else "no yes/no in answer"
    return ParsedAnswer(None, None, f"{why}: {snippet!r}")


def _json_value(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _token_polarity(value)
    return None


def _unfenced(content: str) -> str:
    r"""``content`` without a Markdown code fence around it (string operations: linear, unlike the
    regex ``\s*```$`` tried at every position)."""
    text = content.strip()
    if text.startswith("```"):
        text = text[3:]
        text = text[4:] if text[:4].lower() == "json" else text
    if text.endswith("```"):
        text = text[:-3]
    return text.strip()


def parse_json(content: str) -> ParsedAnswer:
    """Read yes/no from a JSON answer such as ``{"answer": "yes"}`` or ``{"valid": false}``."""
    text = _unfenced(content)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return ParsedAnswer(None, None, "no JSON object in answer")
    try:
        obj = json.loads(text[start : end + 1])
    except (json.JSONDecodeError, RecursionError):
        return ParsedAnswer(None, None, "invalid JSON in answer")
    if not isinstance(obj, Mapping):
        return ParsedAnswer(None, None, "JSON answer is not an object")
    for key in _JSON_KEYS:
        if key in obj:
            word = _json_value(obj[key])
            if word is not None:
                return ParsedAnswer(word, None, "json")
            return ParsedAnswer(None, None, f"JSON field {key!r} is not yes/no")
    if len(obj) == 1:
        word = _json_value(next(iter(obj.values())))
        if word is not None:
            return ParsedAnswer(word, None, "json")
    return ParsedAnswer(None, None, "JSON answer has no yes/no field")


def read_answer(content: str | None, logprobs: Sequence[TopLogprobs] | None = None) -> ParsedAnswer:
    """Read a completion: the word from JSON or text, P(yes) from log-probabilities when given.

    Parameters
    ----------
    content : str or None
        The message content.
    logprobs : sequence of sequence of (str, float), optional
        For each generated token, its top alternatives.

    Returns
    -------
    ParsedAnswer
        Never raises.
    """
    p_yes = p_yes_from_logprobs(logprobs) if logprobs else None
    if content is None or not content.strip():
        word = ParsedAnswer(None, None, "empty answer")
    elif content.lstrip().startswith(("{", "```")):
        word = parse_json(content)
        if word.word is None:
            plain = parse_plain(content)
            word = plain if plain.word is not None else word
    else:
        word = parse_plain(content)
    if p_yes is not None:
        return ParsedAnswer(word.word, p_yes, "logprobs")
    return word


def decide(answer: ParsedAnswer, threshold: float = 0.5) -> tuple[bool | None, str]:
    """Turn a parsed answer into ``(valid, reason)``: P(yes) against ``threshold`` when known.

    Scoring P(yes) rather than the word means a text cannot win by making the model say "yes" in a
    different token position; the word is used only when no probability is available.
    """
    if answer.p_yes is not None:
        valid = answer.p_yes >= threshold
        return valid, f"logprobs: P(yes)={answer.p_yes:.3f} {'>=' if valid else '<'} {threshold:.3f}"
    if answer.word is not None:
        return answer.word, answer.reason
    return None, answer.reason or "unreadable answer"
