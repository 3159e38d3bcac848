"""How long does the injection scan take on adversarial texts? (a denial-of-service guard)

Every judge prompt scans the text, the label's description and its examples for instruction-like
content (:func:`redline.judge.injection.detect_instructions`), and every answer is read
(:func:`redline.judge.verdict_parsing.read_answer`). A pattern that backtracks makes either
quadratic in the length of its input: a 20 KB text of spaces after "answer" then holds a worker
for seconds. This times both on inputs built to provoke backtracking, at growing sizes, and
reports CPU seconds per text (``time.process_time``, insensitive to other load on the machine) and
the growth from one size to the next (2x the size: ~2x linear, ~4x quadratic)::

    python benchmarks/judge_injection_scan.py                      # this checkout
    PYTHONPATH=/path/to/older/checkout python benchmarks/judge_injection_scan.py --sizes 2500,5000,10000,20000

A case stops growing once one run takes longer than ``--give-up`` seconds. Prints JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if importlib.util.find_spec("redline") is None:  # not installed and no PYTHONPATH: this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _functions() -> tuple[str, Callable[[str], Any], Callable[[str], Any]]:
    try:
        from redline.judge.injection import detect_instructions
    except ImportError:  # checkouts before the injection module was split out of the prompt
        from redline.judge.prompt import detect_instructions  # type: ignore[attr-defined,no-redef]
    import redline
    from redline.judge.verdict_parsing import read_answer

    return str(Path(redline.__file__).resolve().parent), detect_instructions, read_answer


def _fill(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


#: name -> text of length n
CASES: dict[str, Callable[[int], str]] = {
    "answer + spaces": lambda n: "answer" + " " * (n - 6),
    "correct answer is + spaces": lambda n: "the correct answer is" + " " * (n - 21),
    "line breaks": lambda n: "\n" * n,
    "line break + system, repeated": lambda n: _fill("\nsystem ", n),
    "answer + quotes": lambda n: "answer " + '"' * (n - 7),
    "nested quotes": lambda n: _fill("\"'“‘(\"'", n),
    "please answer with, repeated": lambda n: _fill("please answer with ", n),
    "ignore the, repeated": lambda n: _fill("ignore the ", n),
    "chat-template markers": lambda n: _fill("<| ", n),
    "plain text": lambda n: _fill("how do i change the pin of my card ", n),
}
#: name -> a reply of length n from a misbehaving endpoint
REPLY_CASES: dict[str, Callable[[int], str]] = {
    "JSON reply + spaces": lambda n: "{" + " " * (n - 2) + "x",
    "plain reply, words": lambda n: _fill("maybe ", n),
}


def run(sizes: Sequence[int], give_up_s: float) -> dict[str, Any]:
    """CPU seconds of one scan (or one reply read) per case and size."""
    where, detect, read_answer = _functions()
    results: dict[str, Any] = {}
    cases = [(f"scan: {name}", make, detect) for name, make in CASES.items()]
    cases += [(f"reply: {name}", make, read_answer) for name, make in REPLY_CASES.items()]
    for name, make, function in cases:
        timings: dict[str, float] = {}
        for n in sizes:
            text = make(n)
            started = time.process_time()
            function(text)
            seconds = time.process_time() - started
            timings[str(n)] = round(seconds, 4)
            if seconds > give_up_s:
                break
        values = list(timings.values())
        growth = [round(b / a, 1) if a > 0.0005 else None for a, b in itertools.pairwise(values)]
        results[name] = {"cpu_s": timings, "growth_per_step": growth}
    worst = max((max(r["cpu_s"].values()), name) for name, r in results.items())
    return {
        "benchmark": "judge_injection_scan",
        "redline": where,
        "python": sys.version.split()[0],
        "sizes": list(sizes),
        "cases": results,
        "worst": {"case": worst[1], "cpu_s": worst[0]},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Time the scan; print JSON."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="12500,25000,50000,100000,200000", help="comma list of text lengths")
    p.add_argument("--give-up", type=float, default=5.0, help="stop growing a case after a run this slow")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(json.dumps(run(sizes, args.give_up), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
