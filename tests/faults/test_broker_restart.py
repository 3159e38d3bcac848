"""The broker stopped and started again mid-stream (a broker owned by this test): the worker waits it
out, and every id sent before, during and after the outage gets its result."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest
from fault_report import record, rss_mb
from stream_run import Watch, read_to_end, send, texts_of, watch_all
from worker_processes import page, start_worker, stop, wait_ready

from redline.broker import BrokerSettings, LocalKafkaBroker
from redline.broker.ports import find_free_port
from redline.streams.settings import TopicNames
from redline.testing.kafka_brokers import session_kafka_version

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(900)]

N_TEXTS = 240
PACE_PER_S = 20.0
STOP_AFTER_RESULTS = 40
DOWN_S = 10.0


def test_a_broker_restart_mid_stream_loses_no_text(fitted, tmp_path) -> None:
    settings = BrokerSettings(
        data_dir=tmp_path / "kafka",
        port=find_free_port(),
        start_timeout_s=240.0,
        kafka_version=session_kafka_version(),
    )
    broker = LocalKafkaBroker(settings, log=lambda _line: None, die_with_parent=True)
    bootstrap = broker.start()
    run = uuid.uuid4().hex[:8]
    topics = TopicNames.with_prefix(f"restart{run}.")
    worker = start_worker(fitted, bootstrap, f"restart{run}.", f"redline-restart-{run}", tmp_path, "w")
    try:
        wait_ready(worker)
        texts = texts_of(fitted, run, N_TEXTS)
        watch = Watch(topics, expected=N_TEXTS)
        outage: dict[str, float] = {}
        failure: list[BaseException] = []

        async def scenario() -> None:
            await asyncio.gather(send(bootstrap, watch, texts, PACE_PER_S), watch_all(bootstrap, watch, 600))

        def stream() -> None:
            try:
                asyncio.run(scenario())
            except BaseException as exc:  # re-raised in the test's thread
                failure.append(exc)

        # the broker is stopped and started from this (the main) thread: its start sets PR_SET_PDEATHSIG,
        # which fires when the *thread* that started it ends, so a short-lived thread would take it down
        streaming = threading.Thread(target=stream, name="stream")
        streaming.start()
        deadline = time.monotonic() + 300
        while (
            len(watch.results) < STOP_AFTER_RESULTS and streaming.is_alive() and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        outage["results_before"] = len(watch.results)
        outage["stopping"] = time.monotonic()
        broker.stop()
        outage["stopped"] = time.monotonic()
        time.sleep(DOWN_S)
        broker.start()
        outage["started"] = time.monotonic()
        streaming.join()
        if failure:
            raise failure[0]
        done_at = time.monotonic()
        final = Watch(topics, expected=N_TEXTS)
        final.sent = watch.sent
        asyncio.run(read_to_end(bootstrap, final))
        counts = final.tally()
        assert not counts.missing, sorted(counts.missing)[:20]
        assert not counts.dead_letters, counts.dead_letters
        assert worker.poll() is None  # it rode the outage out
        stats = page(worker)
        sent_during = sum(outage["stopped"] <= t < outage["started"] for t, _ in watch.sent)
        after = sorted(t for t, _ in watch.results if t >= outage["started"])
        record(
            "broker_restart",
            {
                **counts.figures(len(texts)),
                "results_before_stop": int(outage["results_before"]),
                "broker_stop_s": round(outage["stopped"] - outage["stopping"], 2),
                "broker_down_s": round(outage["started"] - outage["stopped"], 2),  # 10 s + its start
                "texts_sent_while_down": sent_during,
                "first_result_after_restart_s": round(after[0] - outage["started"], 2) if after else None,
                "restart_to_all_answered_s": round(done_at - outage["started"], 2),
                "worker_texts": stats["texts"],
                "worker_rss_mb": round(rss_mb(worker.pid), 1),
                "pace_per_s": PACE_PER_S,
            },
        )
    finally:
        stop(worker)
        broker.stop()
