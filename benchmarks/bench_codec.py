"""Record codecs for the topic records: pydantic v2 against msgspec (``python benchmarks/bench_codec.py``).

Both libraries get the same mirror of three real records (TextIn, JudgeRequest with 5 candidates and
contexts, LabelResult with 5 candidates and judge info) with the same constraints and cross-field rules,
and are measured on

* decode speed: records per second for ``bytes -> validated record`` (best of ``--repeats`` runs),
  and encode speed (``record -> bytes``);
* error quality: the message (and exception class) each gives for eight defective inputs; an exception
  that is not the library's own error type is a defect the caller would have to catch separately.

``redline`` is the codec in ``redline.schemas`` as checked out (``decode``/``encode``), for reference.
Prints JSON; timings come from one run on one machine and are only comparable within that run.
"""

from __future__ import annotations

import argparse
import base64
import json
import platform
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, Strict, ValidationError, model_validator
from pydantic.dataclasses import dataclass

import redline.schemas as redline_schemas

try:
    import msgspec
except ImportError:  # not a dependency of redline: only this comparison needs it
    raise SystemExit("bench_codec compares against msgspec: pip install msgspec") from None

# --------------------------------------------------------------------------- payloads (realistic sizes)

TEXT = "I was charged twice for the same coffee this morning, can you refund the second payment please?"
LABELS = [
    "card_payment_charged_twice",
    "refund_not_showing_up",
    "request_refund",
    "pending_card_payment",
    "transaction_charged_twice",
]
CANDIDATES = [{"label": lab, "p": p} for lab, p in zip(LABELS, [0.41, 0.22, 0.17, 0.12, 0.08], strict=True)]
CONTEXTS = [
    {
        "label": lab,
        "description": f"the customer asks about {lab.replace('_', ' ')}",
        "examples": [f"example {i} for {lab}: my card was used but something went wrong" for i in range(3)],
    }
    for lab in LABELS
]
EMBEDDING = base64.b64encode(np.linspace(-1, 1, 384, dtype="<f4").tobytes()).decode("ascii")
METADATA = {"source": "mobile-app", "user": "u-81723", "priority": 2, "score": 0.75, "vip": False}

PAYLOADS: dict[str, dict[str, Any]] = {
    "TextIn": {"id": "t-000123", "text": TEXT, "metadata": METADATA, "schema_version": 1},
    "JudgeRequest": {
        "id": "t-000123",
        "text": TEXT,
        "candidates": CANDIDATES,
        "contexts": CONTEXTS,
        "index": 1,
        "uncertainty": 0.71,
        "model_version": "m-0007",
        "attempts": [
            {
                "label": LABELS[0],
                "valid": False,
                "p_yes": 0.12,
                "reason": "no",
                "cached": False,
                "latency_ms": 180.5,
                "cost": 0.0002,
            }
        ],
        "metadata": METADATA,
        "embedding": EMBEDDING,
        "schema_version": 1,
    },
    "LabelResult": {
        "id": "t-000123",
        "text": TEXT,
        "label": LABELS[1],
        "status": "corrected",
        "confidence": 0.22,
        "candidates": CANDIDATES,
        "model_version": "m-0007",
        "judge": {
            "judge": "openai:gpt-4o-mini",
            "calls": 2,
            "cost": 0.0004,
            "attempts": [
                {"label": LABELS[0], "valid": False, "p_yes": 0.12},
                {"label": LABELS[1], "valid": True, "p_yes": 0.93},
            ],
        },
        "reason": "",
        "metadata": METADATA,
        "schema_version": 1,
    },
}

BAD_INPUTS: dict[str, bytes] = {
    "missing_field": b'{"text": "hello"}',
    "wrong_type": b'{"id": 5, "text": "hello"}',
    "bad_enum": json.dumps({**PAYLOADS["LabelResult"], "status": "maybe"}).encode(),
    "lone_surrogate": b'{"id": "a", "text": "hi \\ud800 there"}',
    "int_5000_digits": b'{"id": "a", "text": "hi", "metadata": {"n": ' + b"9" * 5000 + b"}}",
    "nested_2000": b'{"id": "a", "text": "hi", "extra": ' + b"[" * 2000 + b"]" * 2000 + b"}",
    "invalid_utf8": b'{"id": "a", "text": "caf\xe9"}',
    "not_json": b"id=a&text=hello",
}
#: the record each bad input is decoded as (the enum case needs a record with an enum)
BAD_TARGET = {"bad_enum": "LabelResult"}

# --------------------------------------------------------------------------- pydantic mirror

Id = Annotated[str, Strict(), Field(min_length=1, max_length=256, pattern=r"\S")]
Str = Annotated[str, Strict()]
Prob = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]
Num = Annotated[float, Strict()]
Scalar = (
    Annotated[str, Strict()]
    | Annotated[int, Strict()]
    | Annotated[float, Strict()]
    | Annotated[bool, Strict()]
    | None
)
Version = Annotated[int, Strict(), Field(ge=1, le=2)]
PCFG = ConfigDict(extra="ignore", allow_inf_nan=False)


@dataclass(frozen=True, config=PCFG)
class PCandidate:
    label: Str
    p: Prob


@dataclass(frozen=True, config=PCFG)
class PContext:
    label: Str
    description: Str = ""
    examples: list[Str] = Field(default_factory=list)


@dataclass(frozen=True, config=PCFG)
class PAttempt:
    label: Str
    valid: Annotated[bool, Strict()] | None
    p_yes: Prob | None = None
    reason: Str = ""
    cached: Annotated[bool, Strict()] = False
    latency_ms: Num = 0.0
    cost: Num = 0.0


@dataclass(frozen=True, config=PCFG)
class PTextIn:
    id: Id
    text: Annotated[str, Strict(), Field(min_length=1, max_length=20_000, pattern=r"\S")]
    metadata: dict[Str, Scalar] = Field(default_factory=dict)
    schema_version: Version = 2


@dataclass(frozen=True, config=PCFG)
class PJudgeRequest:
    id: Id
    text: Str
    candidates: list[PCandidate]
    contexts: list[PContext]
    index: Annotated[int, Strict(), Field(ge=0)]
    uncertainty: Num
    model_version: Str
    attempts: list[PAttempt] = Field(default_factory=list)
    metadata: dict[Str, Scalar] = Field(default_factory=dict)
    embedding: Str = ""
    schema_version: Version = 2

    @model_validator(mode="after")
    def _aligned(self) -> PJudgeRequest:
        if self.index >= len(self.candidates):
            raise ValueError(f"index {self.index} is outside the {len(self.candidates)} candidates")
        if len(self.contexts) != len(self.candidates):
            raise ValueError("contexts must align with candidates")
        return self


@dataclass(frozen=True, config=PCFG)
class PJudgeInfo:
    judge: Str
    calls: Annotated[int, Strict()]
    attempts: list[PAttempt] = Field(default_factory=list)
    cost: Num = 0.0


@dataclass(frozen=True, config=PCFG)
class PLabelResult:
    id: Id
    text: Str
    label: Str | None
    status: Literal["accepted", "validated", "corrected", "unresolved", "judge_unavailable"]
    confidence: Prob
    candidates: list[PCandidate]
    model_version: Str
    judge: PJudgeInfo | None = None
    reason: Str = ""
    metadata: dict[Str, Scalar] = Field(default_factory=dict)
    schema_version: Version = 2

    @model_validator(mode="after")
    def _label_fits_status(self) -> PLabelResult:
        if (self.label is None) != (self.status in ("unresolved", "judge_unavailable")):
            raise ValueError(f"status {self.status!r} does not fit label {self.label!r}")
        return self


PYDANTIC = {"TextIn": PTextIn, "JudgeRequest": PJudgeRequest, "LabelResult": PLabelResult}

# --------------------------------------------------------------------------- msgspec mirror

MId = Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=r"\S")]
MProb = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
MVersion = Annotated[int, msgspec.Meta(ge=1, le=2)]
MScalar = str | int | float | bool | None


class MCandidate(msgspec.Struct, frozen=True):
    label: str
    p: MProb


class MContext(msgspec.Struct, frozen=True):
    label: str
    description: str = ""
    examples: list[str] = msgspec.field(default_factory=list)


class MAttempt(msgspec.Struct, frozen=True):
    label: str
    valid: bool | None
    p_yes: MProb | None = None
    reason: str = ""
    cached: bool = False
    latency_ms: float = 0.0
    cost: float = 0.0


class MTextIn(msgspec.Struct, frozen=True):
    id: MId
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000, pattern=r"\S")]
    metadata: dict[str, MScalar] = msgspec.field(default_factory=dict)
    schema_version: MVersion = 2


class MJudgeRequest(msgspec.Struct, frozen=True):
    id: MId
    text: str
    candidates: list[MCandidate]
    contexts: list[MContext]
    index: Annotated[int, msgspec.Meta(ge=0)]
    uncertainty: float
    model_version: str
    attempts: list[MAttempt] = msgspec.field(default_factory=list)
    metadata: dict[str, MScalar] = msgspec.field(default_factory=dict)
    embedding: str = ""
    schema_version: MVersion = 2

    def __post_init__(self) -> None:
        if self.index >= len(self.candidates):
            raise ValueError(f"index {self.index} is outside the {len(self.candidates)} candidates")
        if len(self.contexts) != len(self.candidates):
            raise ValueError("contexts must align with candidates")


class MJudgeInfo(msgspec.Struct, frozen=True):
    judge: str
    calls: int
    attempts: list[MAttempt] = msgspec.field(default_factory=list)
    cost: float = 0.0


class MLabelResult(msgspec.Struct, frozen=True):
    id: MId
    text: str
    label: str | None
    status: Literal["accepted", "validated", "corrected", "unresolved", "judge_unavailable"]
    confidence: MProb
    candidates: list[MCandidate]
    model_version: str
    judge: MJudgeInfo | None = None
    reason: str = ""
    metadata: dict[str, MScalar] = msgspec.field(default_factory=dict)
    schema_version: MVersion = 2

    def __post_init__(self) -> None:
        if (self.label is None) != (self.status in ("unresolved", "judge_unavailable")):
            raise ValueError(f"status {self.status!r} does not fit label {self.label!r}")


MSGSPEC = {"TextIn": MTextIn, "JudgeRequest": MJudgeRequest, "LabelResult": MLabelResult}

# --------------------------------------------------------------------------- harness


def _codecs() -> dict[str, dict[str, tuple[Callable[[bytes], Any], Callable[[Any], bytes]]]]:
    out: dict[str, dict[str, tuple[Callable[[bytes], Any], Callable[[Any], bytes]]]] = {
        "pydantic": {},
        "msgspec": {},
        "redline": {},
    }
    for name, cls in PYDANTIC.items():
        out["pydantic"][name] = (
            cls.__pydantic_validator__.validate_json,  # type: ignore[attr-defined]
            cls.__pydantic_serializer__.to_json,
        )  # type: ignore[attr-defined]
    for name, mcls in MSGSPEC.items():
        out["msgspec"][name] = (msgspec.json.Decoder(mcls).decode, msgspec.json.Encoder().encode)
    for name in PYDANTIC:
        rcls = getattr(redline_schemas, name)
        out["redline"][name] = (lambda raw, c=rcls: redline_schemas.decode(c, raw), redline_schemas.encode)
    return out


def _rate(fn: Callable[[Any], Any], arg: Any, number: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn(arg)
        best = min(best, time.perf_counter() - start)
    return round(number / best)


def _message(decode: Callable[[bytes], Any], raw: bytes) -> dict[str, str]:
    try:
        decode(raw)
    except ValidationError as exc:  # pydantic: one line per error; show the first, as a codec would
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        return {
            "error": type(exc).__name__,
            "count": str(exc.error_count()),
            "message": f"{loc + ': ' if loc else ''}{first['msg']}",
        }
    except Exception as exc:
        return {"error": type(exc).__name__, "message": str(exc)[:200]}
    return {"error": "none", "message": "accepted"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000, help="decodes per timing run")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    codecs = _codecs()
    raws = {
        name: json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        for name, doc in PAYLOADS.items()
    }
    decode_rate: dict[str, dict[str, float]] = {}
    encode_rate: dict[str, dict[str, float]] = {}
    for lib, by_name in codecs.items():
        decode_rate[lib], encode_rate[lib] = {}, {}
        for name, (dec, enc) in by_name.items():
            record = dec(raws[name])
            decode_rate[lib][name] = _rate(dec, raws[name], args.number, args.repeats)
            encode_rate[lib][name] = _rate(enc, record, args.number, args.repeats)
    errors: dict[str, dict[str, dict[str, str]]] = {}
    for case, raw in BAD_INPUTS.items():
        target = BAD_TARGET.get(case, "TextIn")
        errors[case] = {lib: _message(by_name[target][0], raw) for lib, by_name in codecs.items()}
    print(
        json.dumps(
            {
                "python": platform.python_version(),
                "versions": {
                    "pydantic": version("pydantic"),
                    "pydantic_core": version("pydantic_core"),
                    "msgspec": version("msgspec"),
                },
                "payload_bytes": {name: len(raw) for name, raw in raws.items()},
                "decode_records_per_s": decode_rate,
                "encode_records_per_s": encode_rate,
                "errors": errors,
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
