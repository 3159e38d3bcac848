"""The figures of each fault scenario, merged into ``benchmarks/results/faults.json``.

Each scenario writes one entry (ids in, results out, repeats, dead letters, recovery seconds, RSS);
entries of other scenarios are kept, so the file holds the latest run of every scenario.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "faults.json"


def record(scenario: str, figures: dict[str, Any], path: Path = RESULTS) -> dict[str, Any]:
    """Merge ``figures`` as ``scenario``'s entry into the JSON file at ``path``; returns the whole file."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    data[scenario] = {**figures, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return data


@dataclass(frozen=True)
class Tally:
    """What became of the ids sent: results per id, dead letters per id, and the ids with neither."""

    results: Counter[str]
    dead_letters: Counter[str]
    missing: frozenset[str]

    @property
    def repeats(self) -> int:
        """Results beyond the first, over all ids (at-least-once delivery may repeat a result)."""
        return sum(n - 1 for n in self.results.values() if n > 1)

    @property
    def repeated_ids(self) -> frozenset[str]:
        """The ids with more than one result."""
        return frozenset(i for i, n in self.results.items() if n > 1)

    def figures(self, sent: int) -> dict[str, Any]:
        """The common figures of a scenario."""
        return {
            "ids_in": sent,
            "ids_with_result": len(self.results),
            "results_out": sum(self.results.values()),
            "repeats": self.repeats,
            "repeated_ids": len(self.repeated_ids),
            "dead_letters": sum(self.dead_letters.values()),
            "lost": len(self.missing),
        }


def tally(ids: Iterable[str], result_ids: Iterable[str], dead_letter_ids: Iterable[str | None]) -> Tally:
    """Count, for the ids sent, their results and dead letters; the ids with neither are missing."""
    wanted = set(ids)
    results = Counter(i for i in result_ids if i in wanted)
    letters = Counter(i for i in dead_letter_ids if i in wanted)
    return Tally(results, letters, frozenset(wanted - set(results) - set(letters)))


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB, from ``/proc/<pid>/status`` (0.0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def cpu_count() -> int:
    """The CPUs this process may use (the figures depend on it)."""
    return len(os.sched_getaffinity(0))
