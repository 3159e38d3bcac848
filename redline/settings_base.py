"""The base of every redline settings object: frozen, built from ``REDLINE_*`` variables and CLI flags.

A settings class subclasses :class:`RedlineSettings` (a ``pydantic_settings.BaseSettings``) and declares
its knobs as fields. Each field has exactly one environment variable: ``env_prefix`` + the field name in
capitals, or the name in the class's ``env_var_names`` where an older name is kept.

How the environment is read
---------------------------
Only :meth:`RedlineSettings.from_env` reads it, from the mapping it is given (``os.environ`` when None).
The constructor takes keyword arguments and defaults only, so ``StreamSettings(web_port=7000)`` in a test
never depends on the process environment. (pydantic-settings' own ``EnvSettingsSource`` reads
``os.environ`` in the constructor and matches names case-insensitively; neither suits settings that are
built once from an explicit mapping.)

Errors
------
Every invalid value becomes one :class:`~redline.errors.ConfigError` line naming where the value came
from and what is wrong: ``REDLINE_BATCH_SIZE='many' is not an integer``, ``--threshold='2' must lie in
[0, 1]``, ``batch_size=0 must be >= 1``. A ``SecretStr`` value is never shown.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Self

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from redline.errors import ConfigError

#: what a secret looks like in a message
HIDDEN = "'**********'"


def setting_problem(problem: str, *fields: str) -> PydanticCustomError:
    """A problem of several fields together, raised from a model validator.

    ``fields`` are the settings at fault (named first in the message); ``problem`` may name other
    settings as ``{field}``, replaced by their variable or flag: ``setting_problem("must be set when
    {security_protocol} is SASL_SSL", "sasl_password")``.
    """
    context = {"problem": problem, "fields": ",".join(fields)}
    return PydanticCustomError("redline_setting", "{problem}", context)


class _MappingEnvSource(PydanticBaseSettingsSource):
    """The non-empty variables of ``environ`` that name a field of ``settings_cls``, by field name."""

    settings_cls: type[RedlineSettings]

    def __init__(self, settings_cls: type[RedlineSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = environ
        self.variables = settings_cls.field_env_vars()

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        raw = self.environ.get(self.variables[field_name], "")
        return (raw if raw != "" else None), field_name, False

    def __call__(self) -> dict[str, Any]:
        found = {}
        for name, field in self.settings_cls.model_fields.items():
            if name in self.variables:
                value, _, _ = self.get_field_value(field, name)
                if value is not None:
                    found[name] = self.settings_cls.value_from_env(name, value)
        return found


class RedlineSettings(BaseSettings):
    """Frozen settings: keyword arguments and defaults in the constructor, the environment in ``from_env``.

    Validation errors are :class:`~redline.errors.ConfigError` (one line), never pydantic's.
    """

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix="REDLINE_",
        hide_input_in_errors=True,
        allow_inf_nan=False,
    )

    #: fields that are settings objects of their own (with their own variables), built by their from_env
    nested_settings: ClassVar[tuple[str, ...]] = ()
    #: variables that do not follow ``env_prefix`` + FIELD (names kept from before), by field
    env_var_names: ClassVar[Mapping[str, str]] = MappingProxyType({})

    def __init__(self, *, _labels: _Labels | None = None, **values: Any) -> None:
        # pydantic calls __init__ for model_validate too (BaseSettings has a custom one): every way in
        # turns a ValidationError into a ConfigError here; ``_labels`` says where the values came from
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _config_error(type(self), exc, values, _labels or _Labels(type(self))) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments only: the environment is read by :meth:`from_env`, never implicitly."""
        return (init_settings,)

    @classmethod
    def field_env_vars(cls) -> dict[str, str]:
        """The environment variable of each own field (nested settings objects excluded)."""
        prefix = str(cls.model_config.get("env_prefix", ""))
        return {
            name: cls.env_var_names.get(name, prefix + name.upper())
            for name in cls.model_fields
            if name not in cls.nested_settings
        }

    @classmethod
    def value_from_env(cls, name: str, raw: str) -> Any:
        """The value of field ``name`` given its variable's text (the text itself; pydantic parses it)."""
        return raw

    @classmethod
    def env_vars(cls) -> dict[str, str]:
        """Every knob's variable, nested settings as ``<field>.<knob>`` (one variable per knob)."""
        found = dict(cls.field_env_vars())
        for name in cls.nested_settings:
            nested = cls.model_fields[name].annotation
            assert isinstance(nested, type) and issubclass(nested, RedlineSettings)
            found.update({f"{name}.{k}": v for k, v in nested.env_vars().items()})
        return found

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        flags: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Self:
        """Build from ``REDLINE_*`` variables, then apply the non-None ``overrides`` (CLI values win).

        Parameters
        ----------
        environ : mapping or None
            The variables to read; None reads ``os.environ``. Empty values count as unset.
        flags : mapping or None
            The CLI flag each override came from (``{"uncertainty_threshold": "--threshold"}``), named
            in error messages.
        **overrides
            Field values; None means "not given".
        """
        env = os.environ if environ is None else environ
        values = _MappingEnvSource(cls, env)()
        labels = _Labels(cls, from_env=True, flags=flags)
        labels.given.update({name: var for name, var in cls.field_env_vars().items() if name in values})
        for name, value in overrides.items():
            if value is not None:
                values[name] = value
                labels.given[name] = (flags or {}).get(name, name)
        for name in cls.nested_settings:
            if name not in values:
                nested = cls.model_fields[name].annotation
                assert isinstance(nested, type) and issubclass(nested, RedlineSettings)
                values[name] = nested.from_env(env)
        return cls(_labels=labels, **values)

    def with_overrides(self, **values: Any) -> Self:
        """A validated copy with the non-None ``values`` replaced."""
        given = {k: v for k, v in values.items() if v is not None}
        labels = _Labels(type(self))
        labels.given.update({name: name for name in given})
        return type(self)(_labels=labels, **{**dict(self), **given})


class _Labels:
    """How a message names a field: the variable or flag its value came from, else the field name."""

    def __init__(
        self, cls: type[RedlineSettings], *, from_env: bool = False, flags: Mapping[str, str] | None = None
    ) -> None:
        self.cls = cls
        self.from_env = from_env
        self.flags = dict(flags or {})
        self.given: dict[str, str] = {}

    def label(self, name: str) -> str:
        if name in self.given:
            return self.given[name]
        variable = self.cls.field_env_vars().get(name)
        if self.from_env and variable:
            flag = self.flags.get(name)
            return f"{variable} (or {flag})" if flag else variable
        return name

    def shown(self, name: str, value: Any) -> str:
        if isinstance(value, SecretStr) or _is_secret(self.cls.model_fields.get(name)):
            return HIDDEN
        if isinstance(value, Path):
            return repr(str(value))
        return repr(value) if isinstance(value, str) else str(value)


def _is_secret(field: FieldInfo | None) -> bool:
    return field is not None and "SecretStr" in str(field.annotation)


def _config_error(
    cls: type[RedlineSettings], exc: ValidationError, values: Mapping[str, Any], labels: _Labels
) -> ConfigError:
    parts = []
    for error in exc.errors(include_url=False):
        loc = error.get("loc", ())
        if error["type"] == "redline_setting":
            ctx = error.get("ctx", {})
            at_fault = [labels.label(f) for f in str(ctx.get("fields", "")).split(",") if f]
            problem = str(ctx.get("problem", "")).format_map(_LabelLookup(labels))
            parts.append(f"{' and '.join(at_fault)} {problem}".strip())
            continue
        if not loc:  # a model-level error of another kind: never show the input (it holds every value)
            parts.append(f"{cls.__name__}: {error['msg']}")
            continue
        name = str(loc[0])
        path = ".".join([name, *(str(part) for part in loc[1:])])
        label = labels.label(name) if len(loc) == 1 else path
        if error["type"] == "missing":  # its "input" is the whole mapping: show nothing
            parts.append(f"{label} {_problem(error)}")
            continue
        # the value as given (the variable's text, the flag's text), else what pydantic saw
        value = values.get(str(loc[0]), error.get("input")) if len(loc) == 1 else error.get("input")
        shown = HIDDEN if _secret_at(cls, tuple(loc)) else labels.shown(name, value)
        parts.append(f"{label}={shown} {_problem(error)}")
    return ConfigError("; ".join(parts))


class _LabelLookup(dict[str, str]):
    def __init__(self, labels: _Labels) -> None:
        super().__init__()
        self.labels = labels

    def __missing__(self, key: str) -> str:
        return self.labels.label(key)


_PHRASES = MappingProxyType(
    {
        "int_parsing": "is not an integer",
        "int_type": "is not an integer",
        "int_from_float": "is not an integer",
        "float_parsing": "is not a number",
        "float_type": "is not a number",
        "finite_number": "must be a finite number",
        "bool_parsing": "is not a boolean (true/false, 1/0, yes/no, on/off)",
        "bool_type": "is not a boolean",
        "path_type": "is not a path",
        "path_not_file": "is not an existing file",
        "string_type": "is not a string",
        "string_too_short": "must not be empty",
        "too_short": "must not be empty",
        "extra_forbidden": "is not a setting",
        "missing": "is required",
    }
)


def _problem(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    bounds = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
    if kind in bounds:
        bound = next(iter(ctx.values()))
        return f"must be {bounds[kind]} {bound}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind in _PHRASES:
        return _PHRASES[kind]
    msg = str(error["msg"])
    return msg[:1].lower() + msg[1:]


def _secret_at(cls: type[BaseModel], loc: tuple[Any, ...]) -> bool:
    """Whether the value at ``loc`` (a field, or a field of a nested model) is a secret."""
    model: Any = cls
    for part in loc:
        name = str(part)
        is_model = isinstance(model, type) and issubclass(model, BaseModel)
        field = model.model_fields.get(name) if is_model else None
        if field is None:
            return False
        if _is_secret(field):
            return True
        model = field.annotation
    return False
