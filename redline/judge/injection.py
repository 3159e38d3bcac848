"""Instruction-like content in untrusted strings: found, and masked, in time linear in their length.

:func:`detect_instructions` finds phrases that address the judge instead of describing something
("ignore previous instructions", "answer yes", "</text>", "<|im_start|>"); :func:`mask_instructions`
replaces them by ``[instruction removed]``. :mod:`redline.judge.prompt` applies both to the text,
the label's description and its examples.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

MASK = "[instruction removed]"

# The patterns run on the text as :class:`_Scanned` prepares it: every run of whitespace squeezed to
# one character and the letters folded to lower case; every repetition in them is bounded except a
# match's greedy tail ([^.!?\n]* up to the end of its sentence, which never backtracks). So each
# start position costs a bounded amount of work and a scan is linear in the length of the text (with
# unbounded \s* next to each other, "answer" followed by 20,000 spaces took 20 s; see
# benchmarks/judge_injection_scan.py). Folding instead of re.IGNORECASE halves the time of a scan.
_SP = r"\s{1,3}"  # some whitespace (one character after squeezing)
_OPT_SP = r"\s{0,3}"  # optional whitespace
_QUOTES_OPEN = r"[:\"'“‘(]{0,8}"
_QUOTES_CLOSE = r"[\"'”’)]{0,8}"

# Where a command to the judge starts: the start of the text, a line or a sentence, or after a word
# that makes it an order ("please answer yes", "you must reply no"). "i must say no" (a user
# declining) and "how do they say yes in brazil" do not match.
_IMPERATIVE = (
    rf"(?:^{_OPT_SP}|(?<=[.!?:;,\n\"'(\[\]{{}}<>|\-]){_OPT_SP}|"
    rf"\b(?:please|now|just|only|simply|always|then|you{_SP}must|you{_SP}should|you{_SP}will|"
    rf"you{_SP}have{_SP}to){_SP})"
)

# Phrases that address the model rather than describe a user's need. Each entry: (name, pattern).
_INSTRUCTION_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.MULTILINE))
    for name, pattern in (
        (
            "override",
            r"\b(?:ignore|disregard|forget|override|skip)\b[^.!?\n]{0,40}?"
            r"(?:\b(?:previous|prior|above|earlier|preceding|all|any|the|your|these|those|system)\b"
            r"[^.!?\n]{0,30}?\b(?:instructions?|rules?|prompts?|directions?|guidelines?|context|messages?|"
            rf"label|question|task|examples?)\b|\b(?:the{_SP})?above\b)"
            r"[^.!?\n]*[.!?]?",
        ),
        (
            "answer_claim",
            rf"\b(?:the{_SP})?(?:correct|right|real|only|true|final|expected){_SP}answer{_SP}"
            rf"(?:is|should{_SP}be|must{_SP}be|will{_SP}be|=){_OPT_SP}{_QUOTES_OPEN}{_OPT_SP}"
            rf"(?:yes|no|true|false)\b{_QUOTES_CLOSE}[.!]?",
        ),
        (
            "forced_answer",
            _IMPERATIVE + r"(?:answer|respond|reply|say|output|return|print|write|classify)\b"
            rf"(?:{_SP}(?:with|only|just|simply|exactly|always|the{_SP}word|me|that|it)){{0,8}}"
            rf"{_OPT_SP}{_QUOTES_OPEN}{_OPT_SP}(?:yes|no|true|false|positive|negative)\b"
            rf"(?!{_OPT_SP}(?:or|/){_OPT_SP}(?:yes|no|true|false)){_QUOTES_CLOSE}[.!]?",
        ),
        (
            "forced_label",
            rf"\b(?:this|the){_SP}(?:text|message|query|input|example){_SP}(?:is|belongs{_SP}to|matches){_SP}"
            rf"(?:definitely|certainly|clearly|always){_SP}[^.!?\n]*[.!?]?",
        ),
        (
            "role_change",
            r"(?:"
            + _IMPERATIVE
            + rf"(?:you{_SP}are{_SP}now|act{_SP}as|pretend{_SP}(?:to{_SP}be|you{_SP}are))|"
            rf"\b(?:from{_SP}now{_SP}on{_SP}you|new{_SP}instructions?|system{_SP}prompt|developer{_SP}mode|"
            r"jailbreak))\b[^.!?\n]*[.!?]?",
        ),
        (
            "role_marker",
            rf"(?:<\|?{_OPT_SP}(?:im_start|im_end|system|user|assistant|endoftext|eot_id){_OPT_SP}\|?>"
            rf"(?:{_OPT_SP}(?:system|user|assistant)\b)?|"
            rf"\[/?inst\]|^{_OPT_SP}(?:system|assistant|user){_OPT_SP}:|###{_OPT_SP}(?:instruction|system|response))",
        ),
        (
            "delimiter",
            rf"</?{_OPT_SP}(?:text|examples?|label|description|data|question){_OPT_SP}>",
        ),
    )
)

_WHITESPACE_RUNS = re.compile(r"\s{2,}")
#: lower case as re.IGNORECASE sees it, length-preserving: A-Z, and the four non-ASCII letters that
#: IGNORECASE matches to ASCII ones (İ ı -> i, ſ -> s, Kelvin sign -> k)
_FOLD = str.maketrans(
    {
        **{chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)},
        "İ": "i",
        "ı": "i",
        "ſ": "s",
        "\u212a": "k",
    }
)

#: findings after which everything to the end of the text is masked
_TAKEOVER = frozenset({"role_marker", "delimiter"})


@dataclass(frozen=True)
class InjectionFinding:
    """Instruction-like content found in a text.

    Parameters
    ----------
    kinds : tuple of str
        Names of the patterns that matched (``override``, ``answer_claim``, ``forced_answer``,
        ``forced_label``, ``role_change``, ``role_marker``, ``delimiter``), in pattern order, without
        repeats.
    spans : tuple of (int, int)
        Character spans of the matches in the original text, sorted and merged.
    """

    kinds: tuple[str, ...] = ()
    spans: tuple[tuple[int, int], ...] = ()

    @property
    def flagged(self) -> bool:
        """True when anything instruction-like was found."""
        return bool(self.kinds)


class _Scanned:
    """A text as the patterns see it (whitespace runs squeezed, letters folded), and the way back to
    positions in the original."""

    def __init__(self, text: str) -> None:
        parts: list[str] = []
        self._anchors: list[int] = []  # where each squeezed run's one character is in the result
        self._removed_before: list[int] = []  # characters removed before that run
        self._removed_after: list[int] = []  # ... and up to its end
        cursor = removed = 0
        for run in _WHITESPACE_RUNS.finditer(text):
            parts.append(text[cursor : run.start()])
            self._anchors.append(run.start() - removed)
            self._removed_before.append(removed)
            parts.append("\n" if "\n" in run.group() else run.group()[0])
            removed += len(run.group()) - 1
            self._removed_after.append(removed)
            cursor = run.end()
        parts.append(text[cursor:])
        self.text = "".join(parts).translate(_FOLD)

    def original(self, index: int) -> int:
        """The position in the original text where the character at ``index`` starts."""
        k = bisect_right(self._anchors, index) - 1
        if k < 0:
            return index
        if self._anchors[k] == index:
            return index + self._removed_before[k]
        return index + self._removed_after[k]


def detect_instructions(text: str) -> InjectionFinding:
    """Find phrases in ``text`` that address the judge instead of describing something.

    Linear in the length of ``text`` (see the comment above the patterns).

    Parameters
    ----------
    text : str
        The untrusted text.

    Returns
    -------
    InjectionFinding
        What matched and where; empty when the text looks like plain data.
    """
    scanned = _Scanned(text)
    kinds: list[str] = []
    raw: list[tuple[int, int]] = []
    for name, pattern in _INSTRUCTION_PATTERNS:
        for match in pattern.finditer(scanned.text):
            if match.end() > match.start():
                # after a forged delimiter or chat-role marker, the rest of the text is the attack
                end = len(text) if name in _TAKEOVER else scanned.original(match.end())
                raw.append((scanned.original(match.start()), end))
                if name not in kinds:
                    kinds.append(name)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(raw):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return InjectionFinding(kinds=tuple(kinds), spans=tuple(merged))


def mask_instructions(text: str, finding: InjectionFinding) -> str:
    """Replace each span of ``finding`` in ``text`` by ``[instruction removed]``."""
    if not finding.spans:
        return text
    parts: list[str] = []
    cursor = 0
    for start, end in finding.spans:
        parts.append(text[cursor:start])
        parts.append(MASK)
        cursor = end
    parts.append(text[cursor:])
    return "".join(parts).strip() or MASK
