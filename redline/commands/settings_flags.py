"""CLI flags for settings knobs: one flag per field, its value parsed and checked by the settings class.

A table maps each field of a settings class to its flag names. The flags take text (or are on/off
switches) and default to None ("not given"), so the settings class parses them exactly as it parses its
environment variables, and a bad value is one ``ConfigError`` line naming the flag. Help texts are the
field's description, its variable and its default, read from the model only when ``--help`` is
rendered (:class:`SettingsHelpFormatter`): building the parser, which every ``redline`` run does, never
imports pydantic (0.2-0.4 s on a 2-core machine; ``benchmarks/bench_cli_start.py``).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redline.streams.kafka_security import KafkaSecurity

#: the attribute of an argparse action that names its setting: ``"module:Class.field"``
SETTING_ATTR = "redline_setting"

KAFKA_SECURITY = "redline.streams.kafka_security:KafkaSecurity"
#: the flag of every :class:`~redline.streams.kafka_security.KafkaSecurity` field
KAFKA_SECURITY_FLAGS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "security_protocol": ("--kafka-security-protocol",),
        "sasl_mechanism": ("--kafka-sasl-mechanism",),
        "sasl_username": ("--kafka-sasl-username",),
        "sasl_password": ("--kafka-sasl-password",),
        "ssl_cafile": ("--kafka-ssl-cafile",),
        "ssl_certfile": ("--kafka-ssl-certfile",),
        "ssl_keyfile": ("--kafka-ssl-keyfile",),
    }
)


class SettingsHelpFormatter(argparse.HelpFormatter):
    """Renders a setting flag's help from its settings class: description, variable and default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        spec = getattr(action, SETTING_ATTR, None)
        if spec is None:
            return action.help
        return setting_help(spec).replace("%", "%%")


def setting_help(spec: str) -> str:
    """``"<description> (<VARIABLE>; default <value>)"`` of the setting ``"module:Class.field"``."""
    module, _, rest = spec.partition(":")
    class_name, _, name = rest.partition(".")
    settings_cls = getattr(importlib.import_module(module), class_name)
    field = settings_cls.model_fields[name]
    default = field.get_default(call_default_factory=True)
    variable = settings_cls.field_env_vars()[name]
    return f"{field.description} ({variable}; default {_default_text(default)})"


def _default_text(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, Path):
        return str(value)
    return repr(value) if isinstance(value, str) else str(value)


def add_setting_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    settings: str,
    flags: Mapping[str, tuple[str, ...]],
    switches: frozenset[str] = frozenset(),
) -> None:
    """Add one flag per field of ``settings`` (``"module:Class"``) named in ``flags``.

    Fields in ``switches`` are booleans: ``--name`` / ``--no-name``. Every flag's dest is its field.
    """
    for name, names in flags.items():
        if name in switches:
            action = parser.add_argument(
                *names, dest=name, action=argparse.BooleanOptionalAction, default=None, help=name
            )
        else:
            action = parser.add_argument(*names, dest=name, default=None, help=name)
        setattr(action, SETTING_ATTR, f"{settings}.{name}")


def long_flags(flags: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """The first (long) flag of each field, for error messages."""
    return {name: names[0] for name, names in flags.items()}


def setting_values(args: argparse.Namespace, flags: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
    """The parsed value of each field's flag (None where not given)."""
    return {name: getattr(args, name, None) for name in flags}


def add_kafka_security_flags(parser: argparse.ArgumentParser) -> None:
    """Add the ``--kafka-*`` flags of :class:`~redline.streams.kafka_security.KafkaSecurity`."""
    group = parser.add_argument_group(
        "Kafka security",
        "authentication and TLS of every Kafka connection; give the password by its variable "
        "(a flag shows in the process list)",
    )
    add_setting_flags(group, KAFKA_SECURITY, KAFKA_SECURITY_FLAGS)


def kafka_security_from_args(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> KafkaSecurity:
    """The Kafka security settings: ``REDLINE_KAFKA_*`` variables of ``environ``, then the flags."""
    from redline.streams.kafka_security import KafkaSecurity

    return KafkaSecurity.from_env(
        environ, flags=long_flags(KAFKA_SECURITY_FLAGS), **setting_values(args, KAFKA_SECURITY_FLAGS)
    )
