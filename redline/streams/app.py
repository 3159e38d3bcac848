"""The Faust application factory."""

from __future__ import annotations

from typing import Any

from redline.streams.settings import StreamSettings
from redline.streams.topics import Topics, declare_topics

#: largest request the producer sends: the broker's default message limit (1 MiB), so an oversized
#: record fails in the producer, where the sender sees it, not silently on the broker
MAX_REQUEST_BYTES = 1_048_576


def create_app(settings: StreamSettings) -> tuple[Any, Topics]:
    """Build the Faust app and its topics for ``settings`` (the agents are registered by the caller,
    :func:`redline.streams.agents.register_agents`).

    Tables live in memory (the agents keep no state between messages: every judge request carries
    what the next step needs), offsets are committed at least once, and a new consumer group
    starts at the earliest offset so no text produced before the first worker started is missed.
    """
    # deferred: faust pulls in aiohttp, mode and venusian (start-up time of every other command)
    import faust

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=settings.broker_url,
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        datadir=str(settings.data_dir.absolute()),
        web_enabled=True,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=settings.producer_linger_s,
        stream_wait_empty=False,
        broker_request_timeout=90.0,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        broker_commit_every=100,
        broker_commit_interval=1.0,
        producer_max_request_size=MAX_REQUEST_BYTES,
        loghandlers=[],
        TableManager=_table_manager(),
        **settings.security.faust_kwargs(),
    )
    return app, declare_topics(app, settings)


def _table_manager() -> type:
    """Faust's table manager without its one-second pause at start (redline declares no tables)."""
    from faust.tables import TableManager

    class TablelessManager(TableManager):
        """Faust's ``TableManager.on_start`` sleeps 1 s before it registers the tables, so that tables
        declared late are included; redline declares none, and the pause was a fifth of a worker's start."""

        async def on_start(self) -> None:
            if len(self):  # tables after all: Faust's own start
                await super().on_start()
                return
            await self._update_channels()
            await self.recovery.start()

    return TablelessManager
