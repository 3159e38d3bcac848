"""Instruction-like content in untrusted strings: found, and masked, in time linear in their length.

:func:`detect_instructions` finds phrases that address the judge instead of describing something
("ignore previous instructions", "answer yes", "</text>", "<|im_start|>"); :func:`mask_instructions`
replaces them by ``[instruction removed]``. :mod:`redline.judge.prompt` applies both to the text,
the label's description and its examples.

The scan sees the text normalised (:func:`scan_view`): invisible characters (zero-width spaces and
joiners, soft hyphens, byte-order marks, bidirectional controls) removed, compatibility forms folded
by NFKC (full-width ``Ｉｇｎｏｒｅ``, mathematical ``𝐈𝐠𝐧𝐨𝐫𝐞``, ``﹤text﹥``), Cyrillic and Greek look-alike
letters inside words that also hold Latin letters (``Ignоre`` with a Cyrillic ``о``) read as Latin,
whitespace runs squeezed and letters folded to lower case. Besides English it knows the plain "ignore
the previous instructions" and "answer yes" forms in German, French, Spanish, Portuguese, Italian,
Russian and Chinese. It is a first line only: paraphrases, encodings and role-play pass it
(``benchmarks/injection_attacks.py`` measures which), so the prompt itself must hold.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass

MASK = "[instruction removed]"

# The patterns run on the text as :class:`_Scanned` prepares it (:func:`scan_view`): normalised in
# one pass (a character grows to at most 3), every run of whitespace squeezed to one character and
# the letters folded to lower case; every repetition in them is bounded except a
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
        # a pre-written answer: a JSON answer object, or "expected output: yes"
        (
            "answer_claim",
            rf"[{{,]{_OPT_SP}[\"'](?:answer|verdict|is_example|label_match|match|result|response)[\"']"
            rf"{_OPT_SP}:{_OPT_SP}[\"']?(?:yes|no|true|false)\b[\"']?|"
            rf"\b(?:expected|correct|right|true|final|real){_SP}(?:output|answer|verdict|response)"
            rf"[*_]{{0,3}}{_OPT_SP}[:=][*_\"'“\s]{{0,6}}(?:yes|no|true|false)\b",
        ),
        ("role_marker", rf"\[{_OPT_SP}(?:system|admin|developer|assistant)\b[^\]\n]{{0,30}}\]"),
        # the same orders in other languages (German, French, Spanish, Portuguese, Italian, Russian,
        # Chinese); the verbs are imperatives, the nouns plural instructions or rules
        (
            "override",
            r"(?:\b(?:ignorier(?:e|en|t)?|vergiss|vergessen|missachte|übergehe)\b[^.!?\n]{0,40}?"
            r"\b(?:vorherigen|vorigen|bisherigen|obigen|früheren|alle[nrs]?)\b[^.!?\n]{0,30}?"
            r"\b(?:anweisungen|instruktionen|regeln|befehle|vorgaben)\b|"
            r"\b(?:ignore[zr]?|oublie[zr]?|ignora|ignore|olvida|olvide|omite|esqueça|esqueca|dimentica)\b"
            r"[^.!?\n]{0,40}?\b(?:instructions?|consignes|règles|directives|instrucciones|indicaciones|"
            r"reglas|instruções|instrucoes|regras|istruzioni|regole)\b[^.!?\n]{0,20}?"
            r"\b(?:précédentes|antérieures|ci-dessus|anteriores|previas|de arriba|acima|precedenti|sopra)\b|"
            r"(?:игнорируй|проигнорируй|забудь|не обращай внимания на)(?:те)?[^.!?\n]{0,40}?"
            r"(?:предыдущие|прежние|все|вышеуказанные|системные)[^.!?\n]{0,30}?"
            r"(?:инструкции|указания|правила|команды)|"
            r"(?:忽略|无视|無視|忘记|忘記)[^。！？\n]{0,10}?(?:之前|以上|上面|前面|先前|所有)[^。！？\n]{0,10}?"
            r"(?:指令|指示|说明|說明|规则|規則|提示))[^.!?\n。！？]*[.!?。！？]?",
        ),
        (
            "forced_answer",
            rf"(?:\b(?:antworte|antwortet|antworten{_SP}sie)\b(?:{_SP}(?:nur|einfach|immer|bitte|mit)){{0,4}}"
            rf"|\b(?:réponds|répondez)\b(?:{_SP}(?:seulement|uniquement|juste|toujours|simplement|par)){{0,4}}"
            rf"|\b(?:responde|responda|contesta|conteste)\b(?:{_SP}(?:solo|sólo|siempre|con|apenas|sempre|com))"
            rf"{{0,4}}|\b(?:rispondi|rispondete|risponda)\b(?:{_SP}(?:solo|sempre|con)){{0,4}}"
            rf"|(?:ответь|скажи|напиши)(?:те)?(?:{_SP}(?:только|просто|всегда|словом)){{0,4}})"
            rf"{_OPT_SP}[„“”\"'«»‚:(]{{0,8}}{_OPT_SP}(?:yes|ja|oui|sí|sim|sì|да)\b"
            r"|(?:只|请|請|直接|一律|必须|必須)(?:回答|回复|回覆|输出|輸出|说|說)[\s:：“\"'「]{0,4}(?:yes|是|对|對)",
        ),
    )
)

_WHITESPACE_RUNS = re.compile(r"\s{2,}")
#: lower case, length-preserving: A-Z, the Latin-1 and Cyrillic capitals (for the German, French,
#: Spanish and Russian phrases), and the four non-ASCII letters that re.IGNORECASE matches to ASCII
#: ones (İ ı -> i, ſ -> s, Kelvin sign -> k)
_FOLD = str.maketrans(
    {
        **{chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)},
        **{chr(c): chr(c + 32) for c in range(0xC0, 0xDF) if c != 0xD7},
        **{chr(c): chr(c + 32) for c in range(0x410, 0x430)},
        **{chr(c): chr(c + 80) for c in range(0x400, 0x410)},
        "İ": "i",
        "ı": "i",
        "ſ": "s",
        "\u212a": "k",
    }
)

#: characters that show nothing (Unicode category Cf: zero-width space, joiners, soft hyphen, BOM,
#: bidirectional controls, tags), plus the combining grapheme joiner, variation selectors and Hangul
#: fillers: removed before the scan, so they cannot split a trigger word
#: (first, last) pairs of code points
_INVISIBLE_RANGES = (
    "\u00ad\u00ad\u034f\u034f\u0600\u0605\u061c\u061c\u06dd\u06dd\u070f\u070f\u0890\u0891\u08e2\u08e2"
    "\u115f\u1160\u180b\u180f\u200b\u200f\u202a\u202e\u2060\u2064\u2066\u206f\u3164\u3164\ufe00\ufe0f"
    "\ufeff\ufeff\uffa0\uffa0\ufff9\ufffb\U000110bd\U000110bd\U000110cd\U000110cd\U00013430\U00013438"
    "\U0001bca0\U0001bca3\U0001d173\U0001d17a\U000e0001\U000e0001\U000e0020\U000e007f\U000e0100\U000e01ef"
)
_INVISIBLE = frozenset(
    chr(c)
    for first, last in zip(_INVISIBLE_RANGES[::2], _INVISIBLE_RANGES[1::2], strict=True)
    for c in range(ord(first), ord(last) + 1)
)
#: Cyrillic and Greek letters that look like Latin ones; read as Latin inside a word that also holds
#: Latin letters ("Ignоre" with a Cyrillic о), never in a word of one script (Russian stays Russian)
_LOOKALIKE = str.maketrans(
    "аеорсухіјѕԁһӏԛԝүАВЕКМНОРСТХУІЈЅҮҺαοριυνκΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdhlqwyABEKMHOPCTXYIJSYHaopiuvkABEZHIKMNOPTYX",
)
_LOOKALIKE_CHARS = re.compile("[аеорсухіјѕԁһӏԛԝүАВЕКМНОРСТХУІЈЅҮҺαοριυνκΑΒΕΖΗΙΚΜΝΟΡΤΥΧ]")
_LETTER_RUNS = re.compile(r"[^\W\d_]+")
_ASCII_LETTER = re.compile(r"[A-Za-z]")

#: the kinds of finding, in the order :class:`InjectionFinding` lists them
_KINDS = (
    "override",
    "answer_claim",
    "forced_answer",
    "forced_label",
    "role_change",
    "role_marker",
    "delimiter",
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


def _normalise(text: str) -> tuple[str, list[int] | None]:
    """``text`` without invisible characters, in NFKC (character by character), look-alike letters
    of mixed-script words read as Latin; and where each of its characters comes from in ``text``
    (None: the same positions). Linear: one pass over the characters, one over the words."""
    if text.isascii():
        return text, None
    origin: list[int] | None = None
    if not _INVISIBLE.isdisjoint(text) or not unicodedata.is_normalized("NFKC", text):
        parts: list[str] = []
        origin = []
        seen: dict[str, str] = {}  # NFKC of one character costs up to 2.5 µs: once per character
        for i, char in enumerate(text):
            if char < "\x80":
                parts.append(char)
                origin.append(i)
            elif char not in _INVISIBLE:
                folded = seen.get(char)
                if folded is None:
                    folded = unicodedata.normalize("NFKC", char)
                    # an Arabic ligature of 18 letters, "㍿": nothing to find, up to 18x the work
                    folded = seen[char] = folded if len(folded) <= 3 else char
                parts.append(folded)
                origin.extend([i] * len(folded))
        text = "".join(parts)
    if _LOOKALIKE_CHARS.search(text):
        words: list[str] = []
        cursor = 0
        for word in _LETTER_RUNS.finditer(text):
            if not word.group().isascii() and _ASCII_LETTER.search(word.group()):
                words += [text[cursor : word.start()], word.group().translate(_LOOKALIKE)]
                cursor = word.end()
        text = "".join([*words, text[cursor:]])
    return text, origin


class _Scanned:
    """A text as the patterns see it (normalised, whitespace runs squeezed, letters folded), and the
    way back to positions in the original."""

    def __init__(self, text: str) -> None:
        normal, self._origin = _normalise(text)
        parts: list[str] = []
        self._anchors: list[int] = []  # where each squeezed run's one character is in the result
        self._removed_before: list[int] = []  # characters removed before that run
        self._removed_after: list[int] = []  # ... and up to its end
        cursor = removed = 0
        for run in _WHITESPACE_RUNS.finditer(normal):
            parts.append(normal[cursor : run.start()])
            self._anchors.append(run.start() - removed)
            self._removed_before.append(removed)
            parts.append("\n" if "\n" in run.group() else run.group()[0])
            removed += len(run.group()) - 1
            self._removed_after.append(removed)
            cursor = run.end()
        parts.append(normal[cursor:])
        self.text = "".join(parts).translate(_FOLD)

    def _unsqueezed(self, index: int) -> int:
        k = bisect_right(self._anchors, index) - 1
        if k < 0:
            return index
        if self._anchors[k] == index:
            return index + self._removed_before[k]
        return index + self._removed_after[k]

    def start(self, index: int) -> int:
        """The position in the original text where the character at ``index`` starts."""
        position = self._unsqueezed(index)
        return position if self._origin is None else self._origin[position]

    def end(self, index: int) -> int:
        """The position in the original text where a match ending before ``index`` ends."""
        position = self._unsqueezed(index)
        if self._origin is None or position == 0:
            return position
        return self._origin[position - 1] + 1


def scan_view(text: str) -> str:
    """``text`` as the patterns see it: invisible characters removed, NFKC, look-alike letters of
    mixed-script words read as Latin, whitespace runs squeezed to one character, lower case."""
    return _Scanned(text).text


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
                end = len(text) if name in _TAKEOVER else scanned.end(match.end())
                raw.append((scanned.start(match.start()), end))
                if name not in kinds:
                    kinds.append(name)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(raw):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return InjectionFinding(kinds=tuple(sorted(kinds, key=_KINDS.index)), spans=tuple(merged))


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
