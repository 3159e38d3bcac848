"""The frozen settings of one stream worker, built once at start-up from env and CLI.

:class:`StreamSettings` is a :class:`~redline.settings_base.RedlineSettings`: the constructor takes
keyword arguments and defaults only; :meth:`~redline.settings_base.RedlineSettings.from_env` reads the
``REDLINE_*`` variables (:data:`ENV_VARS`, one per knob) and applies CLI overrides on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, SecretStr, field_validator

from redline.settings_base import RedlineSettings
from redline.streams.kafka_security import KafkaSecurity

__all__ = ["ENV_VARS", "KafkaSecurity", "StreamSettings", "TopicNames"]


@dataclass(frozen=True)
class TopicNames:
    """The name of every redline topic; all share one prefix (``redline.`` by default).

    Derived from :attr:`StreamSettings.topic_prefix` (the knob), so a plain frozen dataclass.
    """

    texts: str
    predictions: str
    labels: str
    judge_requests: str
    judge_verdicts: str
    control: str
    events: str
    models: str
    examples: str
    deadletter: str

    @classmethod
    def with_prefix(cls, prefix: str = "redline.") -> TopicNames:
        """Topic names under ``prefix`` (``redline.texts``, ``redline.judge.requests``, ...)."""
        return cls(**{f.name: prefix + f.name.replace("_", ".") for f in fields(cls)})

    def all(self) -> list[str]:
        """Every topic name, in declaration order."""
        return [getattr(self, f.name) for f in fields(self)]


def _unit_interval(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError("must lie in [0, 1]")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


Share = Annotated[float, AfterValidator(_unit_interval)]
NonBlank = Annotated[str, AfterValidator(_not_blank)]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]
_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


class StreamSettings(RedlineSettings):
    """Everything a stream worker needs to know, validated on construction.

    Each field's ``description`` is its help text; :data:`ENV_VARS` names its variable. Kafka
    authentication and TLS are in :attr:`security` (``REDLINE_KAFKA_*``), built by ``from_env`` from the
    same environment. The constructor reads no environment (``StreamSettings(web_port=7000)`` is the
    same everywhere; its ``security`` is PLAINTEXT).
    """

    nested_settings: ClassVar[tuple[str, ...]] = ("security",)
    env_var_names: ClassVar[Mapping[str, str]] = MappingProxyType({"data_dir": "REDLINE_WORKER_DIR"})

    bootstrap: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers host:port[,host:port...]"
    )
    app_id: NonBlank = Field(
        default="redline", description="Faust app id = consumer group; workers with one id share the work"
    )
    topic_prefix: str = Field(default="redline.", description="prefix of every topic name")
    partitions: int = Field(default=4, ge=1, description="partitions of the topics redline creates")
    replication: int = Field(default=1, ge=1, description="replication factor of the topics redline creates")
    web_host: NonBlank = Field(default="127.0.0.1", description="address the worker's web server binds")
    web_port: int = Field(
        default=6066, ge=1, le=65535, description="port of the worker's web server; one per worker on a host"
    )
    batch_size: int = Field(default=64, ge=1, description="texts embedded and scored at once")
    embed_batches: int = Field(
        default=2,
        ge=1,
        description="batches the classify agent embeds at once, each on its own thread (decisions and "
        "outputs stay in the order the texts were read); unless REDLINE_EMBED_THREADS is set, the "
        "embedder's threads are every core but one, shared among them. bench_stream on 2 cores, two "
        "interleaved pairs at 150 labels (2 against 1): classify only 228 / 233 against 187 / 207 "
        "texts/s, the defaults 130 / 150 against 119 / 111; one pair at 1000 labels: 162 against 110 "
        "and 91 against 81",
    )
    batch_within_s: float = Field(
        default=0.1, gt=0, description="seconds a batch waits to fill (it closes on size or on this timer)"
    )
    # Faust's take_events wakes every `within` whether or not anything came: an idle worker (judge
    # share 0.2, 150 labels) used 0.067 / 0.049 / 0.038 / 0.036 of a core at 10 / 20 / 50 / 100 ms
    # (CPU seconds over 20 s; its event loop woke ~470 times a second at 10 ms); a question waits half
    # of it on average (a real judge answers in 100s of ms)
    hop_within_s: float = Field(
        default=0.02,
        gt=0,
        description="seconds a batch of judge questions waits to fill (each judged text passes one "
        "such hop per judge_questions_per_hop questions)",
    )
    # 5 ms, measured in interleaved bench_stream pairs against 0 (README, "The stream"): classify only at
    # 150 labels 348 / 344 -> 430 / 416 texts/s, the defaults 263 / 275 -> 330 / 299 at 150 labels and
    # 141 / 139 -> 155 / 145 at 1000, the accepted p99 at half rate unchanged (199-275 against 208-259
    # ms); 10 and 20 ms gave 5-10 % more but a judged p99 up to 410 ms (it waits at each of three hops)
    producer_linger_s: float = Field(
        default=0.005,
        ge=0,
        le=1,
        description="seconds the producer waits to fill a request with more records (Kafka's linger.ms): "
        "fewer, fuller requests for the broker, at most this much more latency per hop (a judged text "
        "usually has three: text, judge request, result)",
    )
    blas_threads: int = Field(
        default=1,
        ge=0,
        description="threads of numpy's BLAS library (scoring, the judge's context lookup, learning); 0 "
        "keeps the library's own (one per core). bench_stream, defaults at 150 labels on 2 cores: 1 "
        "thread took a fifth off the worker's CPU in a burst (27.7 / 28.7 against 36.6 / 35.5 s) and "
        "gave 89 / 92 against 78 / 79 texts/s (the learning steps' BLAS threads spun on the cores the "
        "embedder needs); classify only: no change",
    )
    judge: str = Field(
        default="none",
        description="judge spec: none | simulated:<accuracy> | simulated-hard:<accuracy> (evaluation "
        "only) | openai[:<model>] (endpoint from OPENAI_BASE_URL / OPENAI_API_KEY)",
    )
    judge_concurrency: int = Field(
        default=8,
        ge=1,
        description="judge requests a worker handles at once (the judge client caps the calls in flight "
        "to its endpoint with REDLINE_JUDGE_MAX_IN_FLIGHT)",
    )
    # bench_stream, the defaults, two interleaved pairs (1 against 5): 1000 labels 154 / 148 -> 170 / 177
    # texts/s, the worker's CPU per text 11.2 / 11.6 -> 10.4 / 9.9 ms, the broker's per burst 2.7 / 3.2 ->
    # 2.1 / 2.0 s, judged p99 at half rate 453 / 419 -> 395 / 357 ms (most judged texts there end
    # unresolved after five "no"s); 150 labels (most answered at the first question) within the noise,
    # 248 / 323 -> 224 / 334 texts/s, judged p99 at half rate 425 / 345 -> 314 / 282 ms
    judge_questions_per_hop: int = Field(
        default=5,
        ge=1,
        description="questions a text's candidate walk asks in a row on the worker that reads its judge "
        "request before the next goes back to redline.judge.requests (1: one hop per question); a crash "
        "before the outputs are delivered asks them again",
    )
    uncertainty_threshold: Share | None = Field(
        default=None,
        description="fixed uncertainty at or above which the judge is asked; overrides the judge share",
    )
    judge_share: Share = Field(
        default=0.2,
        description="judge budget: share of texts, the most uncertain, sent to the judge; the "
        "uncertainty threshold adapts to keep it",
    )
    max_candidates: int = Field(default=5, ge=1, description="labels the judge may be asked about per text")
    context_examples: int = Field(
        default=3, ge=0, description="nearest training examples of a label shown to the judge"
    )
    learn_every: int = Field(
        default=64,
        ge=0,
        description="the leader learns judge-confirmed texts in batches of this many, at most twice as "
        "many in one step (0: off)",
    )
    learn_interval_s: float = Field(
        default=30.0, gt=0, description="seconds after which fewer waiting texts are learned anyway"
    )
    learn_min_interval_s: float = Field(
        default=10.0,
        ge=0,
        description="seconds at least between two learning steps (each one costs every worker a reload)",
    )
    learn_time_share: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="share of the time the leader may spend learning: after a step of t seconds the next "
        "waits at least t * (1 / share - 1) (a step took ~0.8 s at 150 labels, ~3 s at 1000)",
    )
    learn_defer_s: float = Field(
        default=30.0,
        ge=0,
        description="seconds a due learning step waits while the leader's classify path is saturated "
        "(its batches come full), so that a burst is classified first (0: never waits)",
    )
    learn_yield: float = Field(
        default=3.0,
        ge=0,
        description="while the worker is classifying, a learning step sleeps this many times as long as it "
        "computed since its last pause, between its optimiser's steps: it takes at most 1 / (1 + this) of "
        "a core from the stream, and longer (0: never sleeps)",
    )
    model_secret: SecretStr | None = Field(
        default=None,
        description="shared secret: snapshots are signed (HMAC-SHA256); unsigned or wrongly signed ones "
        "are refused",
    )
    session_timeout_s: float = Field(
        default=20.0,
        ge=6.0,
        le=300.0,
        description="seconds without a heartbeat after which a worker is taken for dead: its partitions "
        "and, if it led, the learning move to the others",
    )
    refit_interval_s: float = Field(
        default=900.0,
        ge=0,
        description="seconds between full refits of the model in the background, on the leader (0: off)",
    )
    drift: bool = Field(
        default=True,
        description="the leader watches every result for drift (drift / recovered events, a raised judge "
        "share and relearning of the drifting labels) and suggests new labels from unresolved texts",
    )
    drift_detector: Literal["adwin", "page-hinkley", "kswin"] = Field(
        default="adwin", description="river detector of every drift signal: adwin, page-hinkley or kswin"
    )
    drift_sensitivity: float = Field(
        default=0.02,
        gt=0,
        lt=1,
        description="ADWIN's delta / KSWIN's alpha: the larger, the earlier and more frequent the alarms",
    )
    drift_min_evidence: int = Field(
        default=30, ge=1, description="results of a label before its drift signals may alarm"
    )
    drift_min_effect: float = Field(
        default=0.15, gt=0, le=1, description="rise of a label's rate (e.g. rejections) that is a drift"
    )
    drift_boost_share: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="judge share of a drifting label's texts while its boost lasts (charged to the judge "
        "budget and repaid over the following texts)",
    )
    drift_boost_texts: int = Field(
        default=1000, ge=0, description="texts of each worker a drift boost lasts (0: no boost)"
    )
    drift_relearn: int = Field(
        default=256,
        ge=0,
        description="judge-confirmed examples of drifting labels since the change relearned at once, at "
        "most (0: no relearning)",
    )
    new_intent_min_size: int = Field(
        default=12,
        ge=0,
        description="unresolved texts a cluster needs to be suggested as a new label (0: no suggestions)",
    )
    new_intent_similarity: float = Field(
        default=0.6, gt=0, lt=1, description="cosine similarity at which two unresolved texts are neighbours"
    )
    new_intent_window: int = Field(default=500, ge=2, description="unresolved texts clustered, the latest")
    model_dir: Path | None = Field(default=None, description="model folder written by `redline fit`")
    data_dir: Path = Field(
        default=Path(".redline") / "worker",
        description="worker-local folder: Faust's data dir, and the checkpoint of the examples a restart "
        "starts from (checked against the topic; deleting it only makes the next start read the topic)",
    )
    loglevel: LogLevel = Field(
        default="warning", description="log level: debug, info, warning, error or critical"
    )
    ready_timeout_s: float = Field(
        default=120.0, gt=0, description="seconds to wait for Kafka and the topics at start-up"
    )
    max_text_chars: int = Field(
        default=20000, ge=1, description="longest text accepted; longer ones are dead-lettered (or truncated)"
    )
    truncate_texts: bool = Field(
        default=False, description="truncate texts over the maximum length instead of dead-lettering them"
    )
    metrics: bool = Field(default=True, description="serve Prometheus /metrics on the web port")
    log_json: bool = Field(default=False, description="write logs as JSON lines")
    security: KafkaSecurity = Field(
        default_factory=KafkaSecurity, description="Kafka authentication and TLS (REDLINE_KAFKA_*)"
    )

    @field_validator("bootstrap")
    @classmethod
    def _host_ports(cls, value: str) -> str:
        hosts = [h.strip() for h in value.split(",") if h.strip()]
        if not hosts or any(":" not in h or not h.rsplit(":", 1)[1].isdigit() for h in hosts):
            raise ValueError("must look like host:port[,host:port]")
        return value

    @field_validator("judge")
    @classmethod
    def _judge_spec(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty (use 'none' for no judge)")
        return value

    @field_validator("topic_prefix")
    @classmethod
    def _topic_characters(cls, value: str) -> str:
        if not set(value) <= _TOPIC_CHARS:
            raise ValueError("may hold only letters, digits, '.', '_' and '-' (Kafka topic names)")
        return value

    @field_validator("loglevel", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def topics(self) -> TopicNames:
        """The topic names under this worker's prefix."""
        return TopicNames.with_prefix(self.topic_prefix)

    @property
    def snapshot_key(self) -> bytes | None:
        """The model secret as bytes (None when no secret is set)."""
        return self.model_secret.get_secret_value().encode("utf-8") if self.model_secret else None

    @property
    def broker_url(self) -> str:
        """The bootstrap servers as a Faust broker URL list."""
        return ";".join(f"kafka://{h.strip()}" for h in self.bootstrap.split(",") if h.strip())


#: the environment variable of every knob, by field (``security.<field>`` for :class:`KafkaSecurity`)
ENV_VARS = MappingProxyType(StreamSettings.env_vars())
