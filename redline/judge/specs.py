"""Judge specs: the one place that turns ``none``, ``simulated[-hard]:<accuracy>`` or
``openai[:<model>]`` into a judge.

The simulated expert answers from ground truth (evaluation only); its confusion-aware mode needs a
vector per label, computed here from labelled embeddings with :func:`redline.core.labels.label_embeddings`
so that ``redline evaluate``, the benchmarks and a worker build it the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from redline.core.judge_interface import Judge
from redline.core.labels import label_embeddings
from redline.errors import ConfigError
from redline.judge.simulated_expert import SimulatedExpert

SPEC_HELP = "none | simulated:<accuracy> | simulated-hard:<accuracy> (evaluation only) | openai[:<model>]"


@dataclass(frozen=True)
class JudgeSpec:
    """A parsed judge spec.

    Attributes
    ----------
    kind : {"none", "simulated", "openai"}
    text : str
        The spec as given (recorded on every verdict).
    model : str or None
        The endpoint's model name for ``openai:<model>``.
    """

    kind: str
    text: str
    model: str | None = None


def parse_judge_spec(spec: str) -> JudgeSpec:
    """Check a spec before any work is done; :class:`ConfigError` names what is expected."""
    text = spec.strip()
    if text == "none":
        return JudgeSpec("none", text)
    if text.startswith("simulated"):
        # the vectors only satisfy the confusion-aware mode's check; from_spec validates the accuracy
        SimulatedExpert.from_spec(text, {}, {"_": np.ones(1)})
        return JudgeSpec("simulated", text)
    if text == "openai" or text.startswith("openai:"):
        return JudgeSpec("openai", text, text.partition(":")[2] or None)
    raise ConfigError(f"judge spec {spec!r} not understood: expected {SPEC_HELP}")


def simulated_expert(
    spec: str,
    truth: Mapping[str, str],
    X: NDArray[np.floating],
    labels: Sequence[str],
    *,
    seed: int = 0,
) -> SimulatedExpert:
    """A simulated expert answering from ``truth`` (text -> label).

    ``X`` / ``labels`` are labelled embeddings (a training set) from which each label's vector is
    computed for the confusion-aware mode.
    """
    classes = sorted({str(v) for v in labels})
    E = label_embeddings(np.asarray(X), [str(v) for v in labels], classes)
    return SimulatedExpert.from_spec(spec, truth, dict(zip(classes, E, strict=True)), seed=seed)


def build_judge(
    spec: str,
    *,
    truth: Mapping[str, str] | None = None,
    X: NDArray[np.floating] | None = None,
    labels: Sequence[str] | None = None,
    seed: int = 0,
) -> Judge | None:
    """The judge a spec names.

    ``none`` -> None; ``simulated[-hard]:<accuracy>`` needs ``truth`` and labelled embeddings ``X`` /
    ``labels``; ``openai[:<model>]`` is an :class:`~redline.judge.openai_judge.OpenAIJudge` configured
    from the environment (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``REDLINE_JUDGE_*``).
    """
    parsed = parse_judge_spec(spec)
    if parsed.kind == "none":
        return None
    if parsed.kind == "simulated":
        if truth is None or X is None or labels is None:
            raise ConfigError(
                f"judge {spec!r} is a simulated expert: give the ground truth (--judge-truth FILE)"
            )
        return simulated_expert(parsed.text, truth, X, labels, seed=seed)
    # deferred: the OpenAI client pulls in openai and httpx, its settings pydantic-settings (start-up
    # time of every other judge)
    from redline.judge.openai_judge import OpenAIJudge
    from redline.judge.settings import JudgeSettings

    return OpenAIJudge(JudgeSettings.from_env(model=parsed.model))
