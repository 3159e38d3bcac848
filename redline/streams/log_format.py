"""How a worker writes its logs: Faust's coloured lines by default, one JSON object per line with
``log_json`` (``--log-json``, ``REDLINE_LOG_JSON``), for a log collector to parse.

The JSON formatter is python-json-logger's; each line has ``time`` (ISO 8601), ``level``, ``logger``
and ``message``, plus ``exc_info`` with the traceback when there is one and any ``extra`` fields.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from redline.streams.settings import StreamSettings

#: the fields of every JSON log line, renamed from the ``logging`` attributes
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
RENAMED = MappingProxyType({"asctime": "time", "levelname": "level", "name": "logger"})


def logging_config(settings: StreamSettings) -> dict[str, Any] | None:
    """The ``logging.config.dictConfig`` for the Faust worker (None: Faust's default lines)."""
    if not settings.log_json:
        return None
    level = settings.loglevel.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": JSON_FIELDS,
                "rename_fields": dict(RENAMED),
                "datefmt": "%Y-%m-%dT%H:%M:%S%z",
            }
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
                "level": level,
            }
        },
        "root": {"level": level, "handlers": ["default"]},
    }
