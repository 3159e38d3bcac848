"""What the ``redline`` command pays before it does anything: building the parser, and the settings modules.

Each measurement runs in a fresh interpreter, ``--runs`` times, and reports the median (a shared machine
is noisy; the medians of interleaved runs compare source trees fairly). ``--tree`` adds a source tree to
compare (another checkout's root, the folder holding ``redline/``); the first tree is this checkout.
Measured:

- ``parser_s``: wall time of ``build_parser()`` (every ``redline`` run, ``--help`` and ``--version`` too);
- ``parser_loads``: which of pydantic / pydantic_settings / numpy that imports;
- ``import_<module>_ms``: ``python -X importtime`` cumulative import time of a module.

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARSER = "from redline.cli import build_parser; build_parser()"
LOADED = (
    "import sys; from redline.cli import build_parser; build_parser(); "
    "print(','.join(m for m in ('pydantic', 'pydantic_settings', 'numpy') if m in sys.modules))"
)
MODULES = ("pydantic_settings", "redline.streams.settings", "redline.adapters.embedder", "redline.broker")


def _env(tree: Path) -> dict[str, str]:  # run in ``tree`` too: ``python -c`` puts the cwd first
    return {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}


def _wall(tree: Path, code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=_env(tree), cwd=tree, check=True)
    return time.perf_counter() - start


def _import_us(tree: Path, module: str) -> int:
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=_env(tree),
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    for line in err.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() == module and not parts[2].startswith("  "):
            return int(parts[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--tree", action="append", default=[], help="another source tree to compare")
    args = parser.parse_args()
    trees = [ROOT, *(Path(t).resolve() for t in args.tree)]
    walls: dict[Path, list[float]] = {t: [] for t in trees}
    imports: dict[tuple[Path, str], list[int]] = {(t, m): [] for t in trees for m in MODULES}
    for _ in range(args.runs):
        for tree in trees:
            walls[tree].append(_wall(tree, PARSER))
            for module in MODULES:
                imports[(tree, module)].append(_import_us(tree, module))
    empty = statistics.median(_wall(ROOT, "pass") for _ in range(args.runs))
    report = {"runs": args.runs, "python_empty_s": round(empty, 3), "trees": {}}
    for tree in trees:
        command = [sys.executable, "-c", LOADED]
        found = subprocess.run(command, env=_env(tree), cwd=tree, capture_output=True, text=True, check=True)
        loaded = found.stdout.strip()
        entry: dict[str, object] = {
            "parser_s": round(statistics.median(walls[tree]), 3),
            "parser_loads": loaded.split(",") if loaded else [],
        }
        for module in MODULES:
            entry[f"import_{module}_ms"] = round(statistics.median(imports[(tree, module)]) / 1000, 1)
        report["trees"][str(tree)] = entry  # type: ignore[index]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
