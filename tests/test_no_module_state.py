"""No module-level mutable state anywhere in the package: objects are built once and passed in.

A module may define constants, but only immutable ones (tuples, frozensets, ``MappingProxyType``); it
may not hold a list, dict, set or counter that code could change at run time, nor use ``global``.
``__all__`` is the one conventional exception.
"""

from __future__ import annotations

import ast
from pathlib import Path

import redline

PACKAGE = Path(redline.__file__).parent
MUTABLE_CALLS = {"dict", "list", "set", "deque", "Counter", "defaultdict", "OrderedDict", "bytearray"}
MUTABLE_NODES = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)


def _call_name(node: ast.expr) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    if isinstance(node.func, ast.Name):
        return node.func.id
    return node.func.attr if isinstance(node.func, ast.Attribute) else None


def _findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [f"{path}:{n.lineno}: global" for n in ast.walk(tree) if isinstance(n, ast.Global)]
    for node in tree.body:
        if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if names == ["__all__"]:
            continue
        if isinstance(node.value, MUTABLE_NODES) or _call_name(node.value) in MUTABLE_CALLS:
            found.append(f"{path}:{node.lineno}: module-level mutable {', '.join(names)}")
    return found


def test_no_module_level_mutable_state() -> None:
    findings = [f for path in sorted(PACKAGE.rglob("*.py")) for f in _findings(path)]
    assert not findings, "\n".join(findings)


def test_the_check_finds_what_it_should(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("cache = {}\nITEMS: list[int] = []\nseen = set()\n\ndef f():\n    global cache\n")
    good = tmp_path / "good.py"
    good.write_text("NAMES = ('a', 'b')\nKNOWN = frozenset({'x'})\n__all__ = ['f']\n")
    assert len(_findings(bad)) == 4 and _findings(good) == []
