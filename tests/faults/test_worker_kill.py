"""SIGKILL of a worker mid-stream: the other worker of the group takes its partitions over and every
id still gets its result (at least once: only texts sent before the kill may be answered twice)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import pytest
from fault_report import record, rss_mb
from stream_run import Watch, read_to_end, send, texts_of, watch_all
from worker_processes import page, start_worker, stop, wait_for, wait_ready

from redline.streams.settings import TopicNames

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(900)]

N_TEXTS = 300
PACE_PER_S = 25.0
KILL_AFTER_RESULTS = 60


def test_a_worker_killed_mid_stream_loses_no_text(kafka_bootstrap, fitted, tmp_path) -> None:
    run = uuid.uuid4().hex[:8]
    prefix = f"kill{run}."
    topics = TopicNames.with_prefix(prefix)
    app_id = f"redline-kill-{run}"
    workers = [start_worker(fitted, kafka_bootstrap, prefix, app_id, tmp_path, "a")]
    try:
        wait_ready(workers[0])
        workers.append(start_worker(fitted, kafka_bootstrap, prefix, app_id, tmp_path, "b", with_model=False))
        wait_ready(workers[1])
        victim = next(w for w in workers if wait_for(w, lambda s: "leader" in s)["leader"])
        survivor = next(w for w in workers if w is not victim)
        wait_for(survivor, lambda s: s["model_version"] == page(victim)["model_version"], 60)
        texts = texts_of(fitted, run, N_TEXTS)
        kill: dict[str, object] = {}

        def kill_once(watch: Watch) -> None:
            if not kill and len(watch.results) >= KILL_AFTER_RESULTS:
                os.kill(victim.pid, signal.SIGKILL)
                kill["at"] = time.monotonic()
                kill["sent"] = {i for _, i in watch.sent}
                kill["in_flight"] = kill["sent"] - watch.answered()  # type: ignore[operator]

        watch = Watch(topics, expected=N_TEXTS, on_result=kill_once)

        async def scenario() -> None:
            await asyncio.gather(
                send(kafka_bootstrap, watch, texts, PACE_PER_S), watch_all(kafka_bootstrap, watch, 600)
            )

        asyncio.run(scenario())
        done_at = time.monotonic()
        assert kill, "the worker was never killed: too few results"
        assert victim.wait(timeout=30) == -signal.SIGKILL
        # read the topics once more from the start: repeats written after the last id was answered count too
        final = Watch(topics, expected=N_TEXTS)
        final.sent = watch.sent
        asyncio.run(read_to_end(kafka_bootstrap, final))
        counts = final.tally()
        assert not counts.missing, sorted(counts.missing)[:20]
        assert not counts.dead_letters, counts.dead_letters
        # at least once: the texts taken but not committed when the victim died are redone, and so are
        # those the survivor had not committed when the rebalance after the kill revoked its partitions
        # (Faust rebalances eagerly): texts sent after the kill may repeat too, each at most twice more
        repeated_after_kill = counts.repeated_ids - kill["sent"]  # type: ignore[operator]
        assert counts.repeats <= 2 * len(counts.repeated_ids), counts.figures(len(texts))
        stats = wait_for(survivor, lambda s: s["leader"], 60)
        learned = set(final.learned) & {i for _, i in final.sent}  # the texts sent (not the seed set)
        unavailable = {r.id for _, r in final.results if r.status == "judge_unavailable"}
        assert not learned & unavailable
        first_result = {}
        for t, r in watch.results:  # arrival times of the live read
            first_result.setdefault(r.id, t)
        answered_before = [kill["at"] - first_result[i] for i in counts.repeated_ids - kill["in_flight"]]  # type: ignore[operator]
        record(
            "sigkill_worker",
            {
                **counts.figures(len(texts)),
                "workers": 2,
                "killed_after_results": KILL_AFTER_RESULTS,
                "sent_before_kill": len(kill["sent"]),  # type: ignore[arg-type]
                "in_flight_at_kill": len(kill["in_flight"]),  # type: ignore[arg-type]
                "repeats_of_in_flight": len(counts.repeated_ids & kill["in_flight"]),  # type: ignore[operator]
                "repeated_ids_sent_after_kill": len(repeated_after_kill),
                # the other repeated ids were answered shortly before the kill, their input offsets not yet
                # committed (Faust commits every few seconds): at most this long before the kill
                "repeated_answered_before_kill_max_s": round(max(answered_before, default=0.0), 2),
                "longest_stall_after_kill_s": round(watch.longest_gap_after(kill["at"]), 2),  # type: ignore[arg-type]
                "kill_to_all_answered_s": round(done_at - kill["at"], 2),  # type: ignore[operator]
                "session_timeout_s": 10,
                "survivor_texts": stats["texts"],
                "survivor_leads": stats["leader"],
                "learned_examples": len(learned),
                "survivor_rss_mb": round(rss_mb(survivor.pid), 1),
                "pace_per_s": PACE_PER_S,
            },
        )
    finally:
        for w in workers:
            stop(w)
