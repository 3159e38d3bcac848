"""The building blocks of every topic record: the ``@record`` decorator, constrained field types, limits.

A record is a frozen pydantic dataclass in strict mode (no ``"5"`` for ``5``, no ``1`` for ``true``)
that ignores unknown fields, rejects NaN and infinity, and raises :class:`~redline.errors.RecordError`
(never pydantic's ``ValidationError``) when it is built with values that break its rules, directly,
through ``dataclasses.replace`` or when decoded. Rules that span fields are ``model_validator``
methods that raise :func:`rule_error`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Callable
from types import MappingProxyType
from typing import Annotated, Any, TypeVar, dataclass_transform

from pydantic import AfterValidator, ConfigDict, Field, JsonValue, ValidationError, WithJsonSchema
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic_core import PydanticCustomError

from redline.errors import RecordError

T = TypeVar("T")

#: the version of every record layout this code writes and the newest it reads (1 is read as well)
SCHEMA_VERSION = 2

#: longest text accepted on any record (characters)
MAX_TEXT_CHARS = 20_000

#: longest record id (characters)
MAX_ID_CHARS = 256

#: most examples one control command may carry
MAX_CONTROL_EXAMPLES = 1000

#: most bytes of a bad message's value a dead letter carries (the rest is described by size and hash)
MAX_DEAD_LETTER_BYTES = 65_536

#: most bytes of a bad message's key a dead letter carries
MAX_DEAD_LETTER_KEY_BYTES = 1024

#: most dimensions of an embedding carried by a judge request
MAX_EMBEDDING_DIM = 4096

#: largest message ``decode`` parses (bytes); topics accept 1 MiB by default, this only guards the parser
MAX_RECORD_BYTES = 8 * 1024 * 1024

#: the configuration every record shares
RECORD_CONFIG = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)

_JSON_TYPE = MappingProxyType(
    {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}
)
#: how pydantic names the members of a failed union in an error location
_UNION_TAGS = MappingProxyType({"str": "string", "int": "integer", "float": "number", "bool": "boolean"})


def rule_error(reason: str) -> PydanticCustomError:
    """The error a record's own rule raises (pydantic reports it; the record turns it into RecordError)."""
    return PydanticCustomError("record_rule", "{reason}", {"reason": reason})


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type (``array`` for a list, ``null`` for None)."""
    if value is None:
        return "null"
    return _JSON_TYPE.get(type(value), type(value).__name__)


def _path(loc: tuple[int | str, ...]) -> str:
    """``$.a[0].b``; a key that is not a plain name is quoted as JSON (``$.policy["\\n"]``): a key of
    the message, e.g. a newline, must not break the one-line reason."""
    return "$" + "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" if p.isidentifier() else f"[{json.dumps(p)}]" for p in loc
    )


def validation_reason(record_name: str | None, exc: ValidationError, positional: tuple[str, ...] = ()) -> str:
    """One line saying what is wrong, where: ``$.id: Input should be a valid string``.

    ``record_name`` (if given) starts the line; ``positional`` names the fields in order, for the errors
    of a constructor's positional arguments.
    """
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(first["loc"])
    if loc and isinstance(loc[0], int) and loc[0] < len(positional):
        loc = (positional[loc[0]], *loc[1:])
    msg = first["msg"]
    more = len(errors) - 1
    if loc and loc[-1] in _UNION_TAGS:  # a value that matches none of a union's types
        loc = loc[:-1]
        group = [e for e in errors if tuple(e["loc"][:-1]) == loc and e["loc"][-1] in _UNION_TAGS]
        allowed = ", ".join(_UNION_TAGS[str(e["loc"][-1])] for e in group)
        msg = f"expected one of {allowed} (or null where allowed), got {json_type(first['input'])}"
        if any(e["type"] == "finite_number" for e in group):
            msg = "Input should be a finite number"
        more = len(errors) - len(group)
    elif first["type"] == "string_unicode":
        msg = "not valid text (it holds a lone surrogate)"
    elif first["type"] == "string_pattern_mismatch" and (first.get("ctx") or {}).get("pattern") == r"\S":
        msg = "must hold a non-space character"
    elif first["type"] == "missing" and loc:
        loc, msg = loc[:-1], f"missing required field {loc[-1]!r}"
    elif first["type"].endswith("_type"):
        msg = f"{msg}, got {json_type(first['input'])}"
    elif first["type"] == "literal_error":
        msg = f"{msg}, got {_short(first['input'])}"
    where = f"{_path(loc)}: " if loc or record_name is None else ""
    tail = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    return f"{record_name + ': ' if record_name else ''}{where}{msg}{tail}"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, Field))
def record(cls: type[T]) -> type[T]:
    """Make ``cls`` a record: a frozen, strict pydantic dataclass whose rule violations raise RecordError.

    A class may set ``__pydantic_config__`` (a :data:`RECORD_CONFIG` copy with, e.g.,
    ``json_schema_extra``) to extend the shared configuration.
    """
    config = None if "__pydantic_config__" in cls.__dict__ else RECORD_CONFIG
    built: Any = pydantic_dataclass(frozen=True, config=config)(cls)
    init: Callable[..., None] = built.__init__
    names = tuple(f.name for f in dataclasses.fields(built))

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except ValidationError as exc:
            raise RecordError(validation_reason(built.__name__, exc, names)) from None

    built.__init__ = __init__
    return built  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- constrained types


def _known_version(version: int) -> int:
    if version < 1:
        raise PydanticCustomError("schema_version", "schema_version {v} is not a version", {"v": version})
    if version > SCHEMA_VERSION:
        raise PydanticCustomError(
            "schema_version_newer",
            "schema_version {v} is newer than this reader knows (1..{newest}); upgrade redline to read it",
            {"v": version, "newest": SCHEMA_VERSION},
        )
    return version


def _utf8_keys(mapping: dict[str, Any]) -> dict[str, Any]:
    """Reject keys holding a lone surrogate: pydantic would write them as U+FFFD without a word."""
    try:
        "".join(mapping).encode("utf-8")
    except UnicodeEncodeError:
        raise rule_error("a key is not valid text (it holds a lone surrogate)") from None
    return mapping


def _plain_json(value: Any, path: str = "") -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise rule_error(f"the number at {path or '.'} is not finite")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise rule_error(f"the text at {path or '.'} holds a lone surrogate") from None
    elif isinstance(value, dict):
        for key, child in value.items():
            _plain_json(key, f"{path} (a key)")
            _plain_json(child, f"{path}.{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _plain_json(child, f"{path}[{index}]")


def _json_object(mapping: dict[str, Any]) -> dict[str, Any]:
    """Reject NaN, infinity and lone surrogates anywhere in a free-form JSON object."""
    _plain_json(mapping)
    return mapping


#: a JSON scalar, the values of a free-form ``metadata`` map
Scalar = str | int | float | bool | None

#: a record id: 1..256 characters, not only spaces
Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=r"\S")]
#: a text to classify: 1..MAX_TEXT_CHARS characters, not only spaces
Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS, pattern=r"\S")]
#: a probability
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
#: caller-owned scalars copied from a text onto every record about it
Metadata = Annotated[dict[str, Scalar], AfterValidator(_utf8_keys)]
#: any JSON object (finite numbers, valid text)
JsonObject = Annotated[dict[str, JsonValue], AfterValidator(_json_object)]
#: a record layout version this reader knows
Version = Annotated[
    int,
    AfterValidator(_known_version),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": SCHEMA_VERSION}),
]


def _base64_chars(max_bytes: int) -> int:
    return 4 * -(-max_bytes // 3)


_BASE64 = r"^[A-Za-z0-9+/]*={0,2}$"
#: base64 of at most MAX_DEAD_LETTER_BYTES bytes
DeadValueB64 = Annotated[str, Field(max_length=_base64_chars(MAX_DEAD_LETTER_BYTES), pattern=_BASE64)]
#: base64 of at most MAX_DEAD_LETTER_KEY_BYTES bytes
DeadKeyB64 = Annotated[str, Field(max_length=_base64_chars(MAX_DEAD_LETTER_KEY_BYTES), pattern=_BASE64)]
#: base64 of a little-endian float32 vector of at most MAX_EMBEDDING_DIM values ("" for none)
EmbeddingB64 = Annotated[str, Field(max_length=_base64_chars(4 * MAX_EMBEDDING_DIM), pattern=_BASE64)]
#: hex SHA-256 ("" when there was nothing to hash)
Sha256Hex = Annotated[str, Field(pattern=r"^([0-9a-f]{64})?$")]
