"""The drift knobs of StreamSettings become valid monitor and new-intent settings."""

from __future__ import annotations

import pytest

from redline.errors import ConfigError
from redline.streams.drift_watch import drift_settings
from redline.streams.intent_watch import intent_settings
from redline.streams.settings import StreamSettings


def test_the_drift_knobs_reach_the_monitor() -> None:
    s = StreamSettings(
        drift_detector="kswin", drift_sensitivity=0.001, drift_min_evidence=7, drift_min_effect=0.03
    )
    d = drift_settings(s)
    assert (d.detector, d.sensitivity, d.min_evidence, d.min_effect) == ("kswin", 0.001, 7, 0.03)
    assert d.tolerance < d.min_effect  # a small effect still has a valid recovery tolerance


def test_a_small_cluster_size_is_a_valid_new_intent_setting() -> None:
    i = intent_settings(
        StreamSettings(new_intent_min_size=2, new_intent_window=50, new_intent_similarity=0.7)
    )
    assert (i.min_size, i.min_neighbours, i.window, i.similarity) == (2, 2, 50, 0.7)
    with pytest.raises(ConfigError):  # a window smaller than a cluster: one clear error
        intent_settings(StreamSettings(new_intent_min_size=20, new_intent_window=10))
