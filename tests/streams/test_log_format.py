"""``log_json``: the worker's logging config writes one JSON object per log line."""

from __future__ import annotations

import io
import json
import logging
import logging.config

from redline.streams.log_format import logging_config
from redline.streams.settings import StreamSettings


def test_log_json_writes_one_json_object_per_line(tmp_path) -> None:
    assert logging_config(StreamSettings(data_dir=tmp_path)) is None  # Faust's own lines by default
    config = logging_config(StreamSettings(data_dir=tmp_path, log_json=True, loglevel="info"))
    assert config is not None and config["root"]["level"] == "INFO"
    stream = io.StringIO()
    config["handlers"]["default"]["stream"] = stream
    del config["root"]  # leave the root logger alone: only the named logger below gets the handler
    config["loggers"] = {"redline.test.json": {"level": "INFO", "handlers": ["default"], "propagate": False}}
    logging.config.dictConfig(config)
    log = logging.getLogger("redline.test.json")
    try:
        log.info("learned %d examples", 4, extra={"model_version": "v3"})
        try:
            raise KeyError("x")
        except KeyError:
            log.exception("a failed round")
    finally:
        log.handlers.clear()
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "INFO" and first["logger"] == "redline.test.json"
    assert first["message"] == "learned 4 examples" and first["model_version"] == "v3" and first["time"]
    assert second["level"] == "ERROR" and "KeyError: 'x'" in second["exc_info"]
