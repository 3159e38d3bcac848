"""The judge endpoint answers 503 for 30 s mid-stream, then recovers: every text ends with a result,
those the judge could not answer as ``judge_unavailable`` (never learned), the later ones resolved."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from fault_report import record, rss_mb
from http_judge import HttpJudge, judge_env, serve, truth_of
from stream_run import Watch, read_to_end, send, texts_of, watch_all
from worker_processes import page, start_worker, stop, wait_ready

from redline.streams.settings import TopicNames

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(900)]

BEFORE, AFTER = 180, 60
PACE_PER_S = 6.0
DOWN_AFTER_RESULTS = 30
DOWN_S = 30.0
MAX_OUTAGE_S = 10.0  # a request waits this long for the endpoint, then the text ends judge_unavailable
RESOLVED = {"validated", "corrected", "unresolved"}  # the judge answered (unresolved: it said no to all)


def test_a_judge_down_for_30_s_loses_no_text_and_teaches_nothing(
    kafka_bootstrap, fitted, tmp_path, monkeypatch
) -> None:
    run = uuid.uuid4().hex[:8]
    topics = TopicNames.with_prefix(f"judge{run}.")
    with serve(HttpJudge(truth_of(fitted.truth_file))) as judge:
        env = judge_env(judge, max_outage_s=MAX_OUTAGE_S, breaker_probe_interval_s=1.0, backoff_max_s=2.0)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        worker = start_worker(
            fitted, kafka_bootstrap, f"judge{run}.", f"redline-judge-{run}", tmp_path, "w",
            "--judge", "openai:judge", threshold="0",  # every text asks the judge
        )  # fmt: skip
        try:
            wait_ready(worker)
            watch = Watch(topics, expected=BEFORE + AFTER)
            outage: dict[str, float] = {}

            async def down_then_up() -> None:
                while len(watch.results) < DOWN_AFTER_RESULTS:
                    await asyncio.sleep(0.1)
                judge.down, outage["down"] = True, time.monotonic()
                await asyncio.sleep(DOWN_S)
                judge.down, outage["up"] = False, time.monotonic()
                await send(kafka_bootstrap, watch, texts_of(fitted, run, AFTER, start=BEFORE))

            async def scenario() -> None:
                await asyncio.gather(
                    send(kafka_bootstrap, watch, texts_of(fitted, run, BEFORE), PACE_PER_S),
                    watch_all(kafka_bootstrap, watch, 600),
                    down_then_up(),
                )

            asyncio.run(scenario())
            final = Watch(topics, expected=BEFORE + AFTER)
            final.sent = watch.sent
            asyncio.run(read_to_end(kafka_bootstrap, final))
            counts = final.tally()
            assert not counts.missing, sorted(counts.missing)[:20]
            assert not counts.dead_letters
            results = [r for _, r in final.results]
            unavailable = {r.id for r in results if r.status == "judge_unavailable"}
            learned = set(final.learned) & {i for _, i in final.sent}  # the texts sent (not the seed set)
            confirmed = {r.id for r in results if r.status in ("validated", "corrected")}
            assert learned == confirmed  # each judge-confirmed text, and only those, became an example
            assert unavailable, "no text met the outage"
            assert all("judge" in r.reason for r in results if r.id in unavailable)
            assert not unavailable & learned  # judge_unavailable never reaches the examples
            later = {f"{run}-{i}" for i in range(BEFORE, BEFORE + AFTER)}
            assert not unavailable & later, sorted(unavailable & later)
            judged_later = [r for r in results if r.id in later and r.judge is not None]
            assert judged_later and all(r.status in RESOLVED for r in judged_later)
            first_answer = min(
                (
                    t
                    for t, r in watch.results
                    if t >= outage["up"] and r.judge is not None and r.status in RESOLVED
                ),
                default=None,
            )
            statuses: dict[str, int] = {}
            for r in results:
                statuses[r.status] = statuses.get(r.status, 0) + 1
            record(
                "judge_outage",
                {
                    **counts.figures(BEFORE + AFTER),
                    "judge_down_s": round(outage["up"] - outage["down"], 2),
                    "max_outage_s": MAX_OUTAGE_S,
                    "judge_unavailable": len(unavailable),
                    "judge_unavailable_learned": len(unavailable & learned),
                    "learned_examples": len(learned),
                    "statuses": statuses,
                    "recovery_s": round(first_answer - outage["up"], 2) if first_answer else None,
                    "judge_refused_503": judge.counts()["refused"],
                    "judge_answered": judge.counts()["answered"],
                    "worker_rss_mb": round(rss_mb(worker.pid), 1),
                    "worker_texts": page(worker)["texts"],
                },
            )
        finally:
            stop(worker)
