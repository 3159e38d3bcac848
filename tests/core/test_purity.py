"""redline.core is the pure algorithm: it must not pull in Kafka, HTTP, LLM or deep-learning stacks."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import redline.core

FORBIDDEN = ("faust", "aiokafka", "openai", "httpx", "sentence_transformers", "torch", "tqdm", "matplotlib")
CORE = Path(redline.core.__file__).parent


def _modules() -> list[str]:
    return sorted(f"redline.core.{m.name}" for m in pkgutil.iter_modules([str(CORE)]))


def test_importing_every_core_module_loads_no_forbidden_package() -> None:
    mods = _modules()
    assert "redline.core.classifier" in mods and "redline.core.evaluation" in mods
    code = (
        "import importlib, json, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    bad = sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN)
    assert bad == [], bad


def test_core_sources_do_not_import_forbidden_packages() -> None:
    offenders = []
    for path in sorted(CORE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
