"""New intents: clusters of texts the judge rejected for every candidate, suggested as new labels.

A text that ends *unresolved* (the judge said "no" to every candidate) may belong to an intent no label
covers. :class:`NewIntentDetector` keeps the embeddings of the last ``window`` unresolved texts and,
every ``every`` new ones, clusters them with scikit-learn's DBSCAN (cosine distance, ``eps = 1 -
similarity``; deterministic, so no seed is needed): a dense group of at least ``min_size`` texts whose
mean cosine similarity to its centroid is at least ``min_cohesion`` becomes an
:class:`IntentSuggestion` with its most typical texts (nearest to the centroid). Scattered texts are
DBSCAN noise and never suggested. A cluster is suggested once: a later cluster whose centroid lies
within ``duplicate_similarity`` of a suggested one, or that mostly consists of a suggestion's texts,
is the same cluster grown. Nothing is added here: the stream publishes the suggestion and an operator
(or a policy switch) adds the label. Without an LLM to name it, :func:`proposed_name` proposes a name
from the words most of its texts share.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from redline.errors import ConfigError, InputDataError

FloatArray = NDArray[np.floating]


@dataclass(frozen=True)
class NewIntentSettings:
    """How unresolved texts are clustered into new-label suggestions.

    Parameters
    ----------
    window : int
        Unresolved texts kept (the most recent).
    similarity : float
        Cosine similarity at which two texts are neighbours (DBSCAN's ``eps = 1 - similarity``).
    min_neighbours : int
        Neighbours (itself included) that make a text a cluster's core (DBSCAN's ``min_samples``).
    min_size : int
        Texts a cluster needs to be suggested.
    min_cohesion : float
        Mean cosine similarity of a cluster's texts to its centroid, at least (chains of loosely
        related texts are not an intent).
    examples : int
        Most typical texts a suggestion carries.
    every : int
        Unresolved texts between two clusterings.
    duplicate_similarity : float
        A cluster whose centroid is at least this similar to a suggested one is that one, grown.
    """

    window: int = 500
    similarity: float = 0.6
    min_neighbours: int = 4
    min_size: int = 12
    min_cohesion: float = 0.6
    examples: int = 10
    every: int = 5
    duplicate_similarity: float = 0.8

    def __post_init__(self) -> None:
        if self.window < 2 or self.every < 1 or self.examples < 1:
            raise ConfigError("new intents need window >= 2, every >= 1 and examples >= 1")
        if not 2 <= self.min_neighbours <= self.min_size <= self.window:
            raise ConfigError("new intents need 2 <= min_neighbours <= min_size <= window")
        for name in ("similarity", "min_cohesion", "duplicate_similarity"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ConfigError(f"new intents: {name} must lie in (0, 1), got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        """As plain values."""
        return asdict(self)


@dataclass(frozen=True)
class IntentSuggestion:
    """A cluster of unresolved texts that may be a new intent.

    Attributes
    ----------
    cluster : int
        Numbers the suggestions of one detector, from 1.
    size : int
        Unresolved texts in the cluster when it was suggested.
    cohesion : float
        Their mean cosine similarity to the centroid.
    keys, texts : tuple of str
        The most typical texts (nearest to the centroid first) and the keys they were observed with.
    embeddings : ndarray (n, d)
        Their embeddings, row-aligned.
    at : int
        Unresolved texts the detector had observed.
    """

    cluster: int
    size: int
    cohesion: float
    keys: tuple[str, ...]
    texts: tuple[str, ...]
    embeddings: NDArray[np.float32]
    at: int

    def to_dict(self) -> dict[str, Any]:
        """As plain values, without the embeddings (the body of a ``new_label_suggested`` event)."""
        return {
            "cluster": self.cluster,
            "size": self.size,
            "cohesion": self.cohesion,
            "keys": list(self.keys),
            "texts": list(self.texts),
            "at": self.at,
        }


class NewIntentDetector:
    """Clusters unresolved texts over a sliding window (see the module docstring)."""

    def __init__(self, settings: NewIntentSettings | None = None) -> None:
        self.settings = settings if settings is not None else NewIntentSettings()
        self.items: deque[tuple[str, str, NDArray[np.float32]]] = deque(maxlen=self.settings.window)
        self.seen = 0
        self.suggested: list[tuple[NDArray[np.float32], frozenset[str]]] = []

    def observe(self, key: str, embedding: FloatArray, text: str) -> list[IntentSuggestion]:
        """Take one unresolved text (``key`` identifies it, e.g. its id); returns the suggestions that
        clustering made now (usually none)."""
        x = np.asarray(embedding, dtype=np.float32).ravel()
        norm = float(np.linalg.norm(x))
        if x.size == 0 or not np.isfinite(norm) or norm == 0.0:
            raise InputDataError("an unresolved text's embedding must be a finite, non-zero vector")
        if self.items and x.size != self.items[0][2].size:
            raise InputDataError(f"embedding of dimension {x.size}, expected {self.items[0][2].size}")
        self.items.append((str(key), str(text), x / norm))
        self.seen += 1
        if self.seen % self.settings.every or len(self.items) < self.settings.min_size:
            return []
        return self._cluster()

    def _cluster(self) -> list[IntentSuggestion]:
        # deferred: scikit-learn costs about a second to import
        from sklearn.cluster import DBSCAN

        s = self.settings
        X = np.stack([x for _, _, x in self.items])
        found = DBSCAN(
            eps=1.0 - s.similarity, min_samples=s.min_neighbours, metric="cosine", algorithm="brute"
        ).fit_predict(X)
        out = []
        for c in sorted(set(found.tolist()) - {-1}):
            rows = np.flatnonzero(found == c)
            if rows.size < s.min_size:
                continue
            mean = X[rows].mean(axis=0)
            centroid = mean / max(float(np.linalg.norm(mean)), 1e-12)
            sims = X[rows] @ centroid
            cohesion = float(sims.mean())
            keys = frozenset(self.items[i][0] for i in rows.tolist())
            if cohesion < s.min_cohesion or self._known(centroid, keys):
                continue
            typical = rows[np.argsort(-sims, kind="stable")[: s.examples]].tolist()
            self.suggested.append((centroid.astype(np.float32), keys))
            out.append(
                IntentSuggestion(
                    cluster=len(self.suggested),
                    size=int(rows.size),
                    cohesion=cohesion,
                    keys=tuple(self.items[i][0] for i in typical),
                    texts=tuple(self.items[i][1] for i in typical),
                    embeddings=X[typical].astype(np.float32),
                    at=self.seen,
                )
            )
        return out

    def _known(self, centroid: NDArray[np.floating], keys: frozenset[str]) -> bool:
        """True when the cluster was suggested before (close centroid, or mostly its texts)."""
        for old_centroid, old_keys in self.suggested:
            if float(old_centroid @ centroid) >= self.settings.duplicate_similarity:
                return True
            if len(keys & old_keys) * 2 >= len(keys):
                return True
        return False

    def stats(self) -> dict[str, Any]:
        """For the worker's stats page: unresolved texts seen and kept, suggestions made."""
        return {"unresolved": self.seen, "window": len(self.items), "suggested": len(self.suggested)}


#: words too common to name an intent
_STOPWORDS = frozenset(
    "a an and are can could does from have how i in is it me my of on or please that the this to "
    "what when where which who why will with would you your about there their them they was were "
    "been being into just need want know tell some".split()
)


def proposed_name(texts: Sequence[str], fallback: str, words: int = 2) -> str:
    """A label name for a suggestion without an LLM: ``new_`` and the ``words`` words (of 3 letters or
    more, not stopwords) found in most of ``texts``, each in more than half of them; ``fallback`` when
    none is."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update({w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2} - _STOPWORDS)
    common = [w for w, n in counts.most_common() if 2 * n > len(texts)][:words]
    return "new_" + "_".join(common) if common else fallback
