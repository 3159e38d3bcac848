"""The frozen settings of one stream worker, built once at start-up from env and CLI."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from redline.errors import ConfigError


@dataclass(frozen=True)
class TopicNames:
    """The name of every redline topic; all share one prefix (``redline.`` by default)."""

    texts: str
    predictions: str
    labels: str
    judge_requests: str
    judge_verdicts: str
    control: str
    events: str
    models: str
    deadletter: str

    @classmethod
    def with_prefix(cls, prefix: str = "redline.") -> TopicNames:
        """Topic names under ``prefix`` (``redline.texts``, ``redline.judge.requests``, ...)."""
        return cls(**{f.name: prefix + f.name.replace("_", ".") for f in fields(cls)})

    def all(self) -> list[str]:
        """Every topic name, in declaration order."""
        return [getattr(self, f.name) for f in fields(self)]


#: environment variables read by :meth:`StreamSettings.from_env`, by field
ENV_VARS = {
    "bootstrap": "REDLINE_BOOTSTRAP",
    "app_id": "REDLINE_APP_ID",
    "topic_prefix": "REDLINE_TOPIC_PREFIX",
    "partitions": "REDLINE_PARTITIONS",
    "web_port": "REDLINE_WEB_PORT",
    "batch_size": "REDLINE_BATCH_SIZE",
    "batch_within_s": "REDLINE_BATCH_WITHIN_S",
    "judge": "REDLINE_JUDGE",
    "judge_concurrency": "REDLINE_JUDGE_CONCURRENCY",
    "uncertainty_threshold": "REDLINE_UNCERTAINTY_THRESHOLD",
    "judge_share": "REDLINE_JUDGE_SHARE",
    "max_candidates": "REDLINE_MAX_CANDIDATES",
    "context_examples": "REDLINE_CONTEXT_EXAMPLES",
    "learn_every": "REDLINE_LEARN_EVERY",
    "model_dir": "REDLINE_MODEL_DIR",
    "data_dir": "REDLINE_WORKER_DIR",
}


@dataclass(frozen=True)
class StreamSettings:
    """Everything a stream worker needs to know, validated on construction.

    Parameters
    ----------
    bootstrap : str
        Kafka bootstrap servers, ``host:port[,host:port...]``.
    app_id : str
        Faust application id = consumer group id; workers with the same id share the work.
    topic_prefix : str
        Prefix of every topic name.
    partitions, replication : int
        Partitions and replication factor of topics redline creates.
    web_host, web_port : str, int
        Where the worker's web server binds (each worker on one host needs its own port).
    batch_size, batch_within_s : int, float
        The classify agent embeds and scores up to ``batch_size`` texts at once, waiting at most
        ``batch_within_s`` seconds for a batch to fill.
    judge : str
        Judge spec: ``none``, ``simulated:<accuracy>`` (evaluation only, needs ground truth) or an
        ``openai:...`` spec understood by :mod:`redline.judge.openai_judge`.
    judge_concurrency : int
        Judge calls in flight at once per worker.
    uncertainty_threshold : float or None
        A fixed threshold: texts whose uncertainty reaches it go to the judge (``judge_share`` is then
        ignored). None (default): the judge budget decides.
    judge_share : float
        The judge budget: the share of texts, the most uncertain, sent to the judge (default 0.2,
        where offline measurements put the best delivered accuracy). The threshold adapts online
        (:class:`redline.core.judge_budget.BudgetedRouter`).
    max_candidates : int
        Labels the judge may be asked about per text, best first.
    context_examples : int
        Nearest training examples of a label shown to the judge.
    learn_every : int
        The model learns judge-confirmed texts in batches of this many (0: never learns).
    learn_interval_s : float
        Seconds after which fewer than ``learn_every`` waiting texts are learned anyway.
    model_dir : Path or None
        Model written by ``redline fit``.
    data_dir : Path
        Worker-local folder (Faust's data dir).
    """

    bootstrap: str = "127.0.0.1:9092"
    app_id: str = "redline"
    topic_prefix: str = "redline."
    partitions: int = 1
    replication: int = 1
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    batch_size: int = 64
    batch_within_s: float = 0.5
    judge: str = "none"
    judge_concurrency: int = 8
    uncertainty_threshold: float | None = None
    judge_share: float = 0.2
    max_candidates: int = 5
    context_examples: int = 5
    learn_every: int = 64
    learn_interval_s: float = 300.0
    model_dir: Path | None = None
    data_dir: Path = field(default_factory=lambda: Path(".redline") / "worker")
    loglevel: str = "warning"

    def __post_init__(self) -> None:
        hosts = [h.strip() for h in self.bootstrap.split(",") if h.strip()]
        if not hosts or any(":" not in h or not h.rsplit(":", 1)[1].isdigit() for h in hosts):
            raise ConfigError(
                f"bootstrap servers must look like host:port[,host:port], got {self.bootstrap!r}"
            )
        if not self.app_id.strip():
            raise ConfigError("app_id must not be empty")
        for name in ("partitions", "replication", "batch_size", "judge_concurrency", "max_candidates"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learn_interval_s <= 0:
            raise ConfigError(f"learn_interval_s must be > 0, got {self.learn_interval_s}")
        if self.learn_every < 0:
            raise ConfigError(f"learn_every must be >= 0, got {self.learn_every}")
        if self.context_examples < 0:
            raise ConfigError(f"context_examples must be >= 0, got {self.context_examples}")
        if not 1 <= self.web_port <= 65535:
            raise ConfigError(f"web_port must be a TCP port, got {self.web_port}")
        if self.batch_within_s <= 0:
            raise ConfigError(f"batch_within_s must be > 0, got {self.batch_within_s}")
        if self.uncertainty_threshold is not None and not 0.0 <= self.uncertainty_threshold <= 1.0:
            raise ConfigError(f"uncertainty_threshold must lie in [0, 1], got {self.uncertainty_threshold}")
        if not 0.0 <= self.judge_share <= 1.0:
            raise ConfigError(f"judge_share must lie in [0, 1], got {self.judge_share}")
        if not self.judge.strip():
            raise ConfigError("judge spec must not be empty (use 'none' for no judge)")

    @property
    def topics(self) -> TopicNames:
        """The topic names under this worker's prefix."""
        return TopicNames.with_prefix(self.topic_prefix)

    @property
    def broker_url(self) -> str:
        """The bootstrap servers as a Faust broker URL list."""
        return ";".join(f"kafka://{h.strip()}" for h in self.bootstrap.split(",") if h.strip())

    def with_overrides(self, **values: Any) -> StreamSettings:
        """A copy with the non-None ``values`` replaced."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> StreamSettings:
        """Build settings from ``REDLINE_*`` variables, then apply non-None ``overrides`` (CLI)."""
        env = os.environ if environ is None else environ
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, var in ENV_VARS.items():
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            values[name] = _parse(name, var, raw, str(types[name]))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _parse(name: str, var: str, raw: str, type_name: str) -> Any:
    try:
        if type_name.startswith("int"):
            return int(raw)
        if type_name.startswith("float"):
            return float(raw)
        if "Path" in type_name:
            return Path(raw)
    except ValueError:
        raise ConfigError(f"{var}={raw!r} is not a valid {type_name.split(' ')[0]}") from None
    return raw
