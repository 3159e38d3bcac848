"""The exception hierarchy: one root, one subclass per kind of failure."""

from __future__ import annotations


class RedlineError(Exception):
    """Root of every error redline raises on purpose.

    The CLI prints ``str(error)`` as one line and exits non-zero.
    """

    exit_code: int = 1


class ConfigError(RedlineError):
    """A setting is missing or invalid."""


class InputDataError(RedlineError):
    """An input file or record is malformed (empty, invalid JSON/UTF-8, unknown label, ...)."""


class KafkaBrokerError(RedlineError):
    """The local Kafka broker could not be resolved, started, stopped or reached."""


class JudgeError(RedlineError):
    """The judge endpoint failed after all retries."""

    exit_code = 2


class ModelError(RedlineError):
    """A model is not fitted, cannot be loaded, or does not fit the input."""


class RecordError(InputDataError):
    """A message on a topic does not decode to the record its schema describes."""


class LLMServerError(RedlineError):
    """A local LLM server (llama.cpp, for tests and benchmarks) could not be installed or started."""
