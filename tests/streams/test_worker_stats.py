"""WorkerStats' model work: what the stats page lists while work runs and after."""

from __future__ import annotations

import time

import pytest

from redline.streams.stats import ClassifyLoad, WorkerStats, YieldToClassify


def test_work_under_way_is_listed_until_it_completes() -> None:
    stats = WorkerStats()
    started = time.time()
    with stats.working("learn"):
        running = stats.work_page(started + 2.5)
        assert [(w["kind"], w.get("running")) for w in running] == [("learn", True)]
        assert running[0]["seconds"] == pytest.approx(2.5, abs=0.05)
        with stats.working("publish"):
            assert [w["kind"] for w in stats.work_page(time.time())] == ["learn", "publish"]
        # the publish completed: recorded, no longer running
        assert [(w["kind"], w.get("running", False)) for w in stats.work_page(time.time())] == [
            ("publish", False),
            ("learn", True),
        ]
    done = stats.work_page(time.time())
    assert [(w["kind"], w.get("running", False)) for w in done] == [("publish", False), ("learn", False)]
    assert stats.running == []


def test_work_that_raises_is_no_longer_running_and_not_recorded() -> None:
    stats = WorkerStats()
    with pytest.raises(RuntimeError), stats.working("reload"):
        raise RuntimeError("bad snapshot")
    assert stats.work_page(time.time()) == []


def test_working_records_the_time_its_pace_slept() -> None:
    stats = WorkerStats()
    load = ClassifyLoad()
    load.batch(64, 64, time.monotonic())  # classifying: the pace sleeps
    pace = YieldToClassify(load, time.monotonic() - 0.02, ratio=1.0)
    with stats.working("learn", pace):
        pace()
    (work,) = stats.work_page(time.time())
    assert work["yielded_s"] == pytest.approx(pace.slept_s, abs=0.001) and pace.slept_s >= 0.02
