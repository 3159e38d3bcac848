"""The injection suite of the judge benchmark (benchmarks/injection_attacks.py): enough variants, in
every family, each one really changing the string it attacks."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def _load_suite() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "injection_attacks.py"
    spec = importlib.util.spec_from_file_location("injection_attacks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("injection_attacks", module)
    spec.loader.exec_module(module)
    return module


suite = _load_suite()

BASES = [
    ("how do i change my pin", "change_pin", "change pin (banking)", ["new pin please", "reset my pin"]),
    ("what's the weather in paris", "book_flight", "book flight (travel)", ["fly me to rome", "a flight"]),
    ("x", "a_b", "", ["e"]),
]


def test_the_suite_has_at_least_30_variants_in_every_family() -> None:
    attacks = suite.ATTACKS
    assert len(attacks) >= 30
    assert len({a.name for a in attacks}) == len(attacks)
    groups = suite.by_family()
    assert list(groups) == list(suite.FAMILIES)  # every family, in order
    assert all(len(group) >= 2 for group in groups.values())
    assert {a.target for a in attacks} == {"text", "description", "example"}


@pytest.mark.parametrize("attack", suite.ATTACKS, ids=lambda a: a.name)
@pytest.mark.parametrize(("text", "label", "description", "examples"), BASES)
def test_each_variant_changes_its_target_and_nothing_else(
    attack: Any, text: str, label: str, description: str, examples: list[str]
) -> None:
    new_text, new_description, new_examples = attack.apply(text, label, description, examples)
    changed = {
        "text": new_text != text,
        "description": new_description != description,
        "example": new_examples[0] != examples[0],
    }
    assert changed == {target: target == attack.target for target in changed}
    assert tuple(new_examples[1:]) == tuple(examples[1:])
    base = attack.base(text, description, examples)
    injected = attack.inject(base, label)
    assert injected != base and len(injected) > len(base)


def test_detection_rates_are_measured_per_variant_and_family() -> None:
    rates = suite.detection_rates(BASES)
    assert rates["variants"] == len(suite.ATTACKS) and rates["questions"] == len(BASES)
    assert set(rates["per_family"]) == set(suite.FAMILIES)
    assert all(0.0 <= share <= 1.0 for share in rates["per_family"].values())
    # the scanner's contract: the plain English orders it was written for are caught
    assert rates["per_family"]["direct"] == 1.0
    assert rates["per_variant"]["ignore_previous"]["kinds"] == ["override"]
