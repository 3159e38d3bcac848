"""The verdict cache: a bounded memory LRU in front of an optional sqlite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from redline.core.judge_interface import JudgeContext, Verdict
from redline.errors import ConfigError
from redline.judge.openai_judge import OpenAIJudge
from redline.judge.settings import JudgeSettings
from redline.judge.verdict_cache import DEFAULT_MAX_ENTRIES, VerdictCache
from redline.testing.openai_mock import Reply, ScriptedEndpoint


def yes(n: int) -> Verdict:
    return Verdict(valid=True, p_yes=n / 100, reason=f"v{n}")


def test_memory_keeps_at_most_max_entries_least_recently_used_go_first() -> None:
    cache = VerdictCache(max_entries=3)
    for n in range(3):
        cache.put(f"k{n}", yes(n))
    assert cache.get("k0") is not None  # k0 is now the most recently used
    cache.put("k3", yes(3))  # evicts k1, the least recently used
    cache.put("k4", yes(4))  # evicts k2
    assert cache.in_memory == len(cache) == 3
    assert cache.get("k1") is None and cache.get("k2") is None
    assert [cache.get(k).reason for k in ("k0", "k3", "k4")] == ["v0", "v3", "v4"]  # type: ignore[union-attr]
    cache.put("k3", yes(33))  # replacing an entry does not grow the cache
    assert cache.in_memory == 3 and cache.get("k3").reason == "v33"  # type: ignore[union-attr]


def test_many_entries_stay_bounded() -> None:
    cache = VerdictCache(max_entries=100)
    for n in range(10_000):
        cache.put(f"k{n}", yes(n % 100))
    assert cache.in_memory == 100
    assert cache.get("k9999") is not None and cache.get("k9899") is None
    assert VerdictCache().max_entries == DEFAULT_MAX_ENTRIES == 100_000


def test_sqlite_keeps_what_memory_forgot(tmp_path: Path) -> None:
    cache = VerdictCache(tmp_path / "v.sqlite", max_entries=2)
    for n in range(5):
        cache.put(f"k{n}", yes(n))
    assert cache.in_memory == 2 and len(cache) == 5
    assert cache.get("k0").reason == "v0"  # type: ignore[union-attr]  # read back from the file
    assert cache.in_memory == 2


def test_zero_keeps_nothing_in_memory_and_negative_is_refused(tmp_path: Path) -> None:
    memoryless = VerdictCache(max_entries=0)
    memoryless.put("k", yes(1))
    assert memoryless.get("k") is None and memoryless.in_memory == 0
    file_only = VerdictCache(tmp_path / "v.sqlite", max_entries=0)
    file_only.put("k", yes(1))
    assert file_only.get("k") is not None and file_only.in_memory == 0
    with pytest.raises(ConfigError, match="max_entries"):
        VerdictCache(max_entries=-1)


async def test_the_judge_bounds_its_cache_by_the_setting() -> None:
    endpoint = ScriptedEndpoint(default=Reply("Yes"))
    settings = JudgeSettings(model="judge", base_url="http://judge.test/v1", cache_max_entries=2)
    judge = OpenAIJudge(settings, http_client=endpoint.client())
    for n in range(4):
        await judge.judge(f"text {n}", "l", JudgeContext())
    assert judge.stats()["cache_in_memory"] == 2
    assert (await judge.judge("text 3", "l", JudgeContext())).cached  # recent: still there
    assert not (await judge.judge("text 0", "l", JudgeContext())).cached  # evicted: asked again
    assert endpoint.requests == 5
