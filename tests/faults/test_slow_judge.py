"""A judge 10x slower: the worker's memory stays bounded (RSS sampled from /proc) while the backlog
waits in Kafka, and every result arrives."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest
from fault_report import record, rss_mb
from http_judge import HttpJudge, judge_env, serve, truth_of
from stream_run import Watch, send, texts_of, watch_all
from worker_processes import page, start_worker, stop, wait_ready

from redline.streams.settings import TopicNames

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(900)]

FAST_S, SLOW_S = 0.05, 0.5  # seconds per judge answer: a quick endpoint, then one 10x slower
N_FAST, N_SLOW = 100, 300
MAX_GROWTH_MB = (
    300.0  # RSS may grow by this much over the fast phase's peak (it does not grow with the backlog)
)


class RssSampler:
    """Samples a process's RSS every ``every_s`` seconds in a thread."""

    def __init__(self, pid: int, every_s: float = 0.25) -> None:
        self.pid, self.every_s = pid, every_s
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(rss_mb(self.pid))
            self._stop.wait(self.every_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _phase(bootstrap: str, topics: TopicNames, texts: list) -> tuple[Watch, float]:
    watch = Watch(topics, expected=len(texts))

    async def scenario() -> None:
        await asyncio.gather(send(bootstrap, watch, texts), watch_all(bootstrap, watch, 600))

    started = time.monotonic()
    asyncio.run(scenario())
    return watch, time.monotonic() - started


def test_a_slow_judge_keeps_memory_bounded(kafka_bootstrap, fitted, tmp_path, monkeypatch) -> None:
    run = uuid.uuid4().hex[:8]
    topics = TopicNames.with_prefix(f"slow{run}.")
    with serve(HttpJudge(truth_of(fitted.truth_file), delay_s=FAST_S)) as judge:
        for name, value in judge_env(judge, max_in_flight=8).items():
            monkeypatch.setenv(name, value)
        worker = start_worker(
            fitted, kafka_bootstrap, f"slow{run}.", f"redline-slow-{run}", tmp_path, "w",
            "--judge", "openai:judge", threshold="0",  # every text asks the judge: a real backlog
        )  # fmt: skip
        try:
            wait_ready(worker)
            ready_mb = rss_mb(worker.pid)
            with RssSampler(worker.pid) as fast_rss:
                fast, fast_s = _phase(kafka_bootstrap, topics, texts_of(fitted, run, N_FAST))
            fast_answers = judge.counts()["answered"]
            judge.delay_s = SLOW_S
            with RssSampler(worker.pid) as slow_rss:
                slow, slow_s = _phase(kafka_bootstrap, topics, texts_of(fitted, run, N_SLOW, start=N_FAST))
            slow_answers = judge.counts()["answered"] - fast_answers
            for watch in (fast, slow):
                counts = watch.tally()
                assert not counts.missing and not counts.dead_letters, sorted(counts.missing)[:20]
            assert worker.poll() is None
            fast_peak, slow_peak = max(fast_rss.samples), max(slow_rss.samples)
            assert slow_peak - fast_peak < MAX_GROWTH_MB, (ready_mb, fast_peak, slow_peak)
            counts = slow.tally()
            record(
                "slow_judge",
                {
                    **counts.figures(N_SLOW),
                    "judge_delay_s": {"fast": FAST_S, "slow": SLOW_S},
                    "texts": {"fast": N_FAST, "slow": N_SLOW},
                    "judge_answers": {"fast": fast_answers, "slow": slow_answers},
                    "phase_s": {"fast": round(fast_s, 1), "slow": round(slow_s, 1)},
                    "judge_max_in_flight_seen": judge.counts()["max_in_flight"],
                    "rss_mb": {
                        "ready": round(ready_mb, 1),
                        "fast_peak": round(fast_peak, 1),
                        "slow_peak": round(slow_peak, 1),
                        "slow_last": round(slow_rss.samples[-1], 1),
                        "samples": len(fast_rss.samples) + len(slow_rss.samples),
                    },
                    "worker_texts": page(worker)["texts"],
                },
            )
        finally:
            stop(worker)
