"""Classifier inputs built from embeddings and, optionally, the raw texts (word/char n-gram TF-IDF)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import sparse

from redline.errors import ConfigError, ModelError

Features = Any  # dense ndarray or scipy sparse matrix


class FeatureBuilder:
    """Build classifier features.

    Parameters
    ----------
    kind : {"embedding", "embedding+ngrams"}
        The embedding alone, or the embedding beside word 1-2-gram and char_wb 2-5-gram TF-IDF blocks.
    ngram_weight : float
        Scale of each TF-IDF block (each block has unit-norm rows before scaling).
    max_features : int
        Vocabulary cap of each TF-IDF block.
    """

    def __init__(self, kind: str = "embedding", ngram_weight: float = 0.5, max_features: int = 10000) -> None:
        self.kind = kind
        self.ngram_weight = ngram_weight
        self.max_features = max_features

    def fit(self, texts: Sequence[str]) -> FeatureBuilder:
        """Learn the n-gram vocabularies (no-op for embeddings only)."""
        if self.kind not in ("embedding", "embedding+ngrams"):
            raise ConfigError(f"unknown features {self.kind!r}")
        self.vectorizers_: list[Any] = []
        if self.kind == "embedding+ngrams":
            from sklearn.feature_extraction.text import TfidfVectorizer

            texts = list(texts)
            for kw in (
                {"analyzer": "word", "ngram_range": (1, 2)},
                {"analyzer": "char_wb", "ngram_range": (2, 5)},
            ):
                vec = TfidfVectorizer(sublinear_tf=True, min_df=1, max_features=self.max_features, **kw)
                vec.fit(texts)
                self.vectorizers_.append(vec)
        self.fitted_texts_ = len(texts)
        return self

    def transform(self, X: np.ndarray[Any, Any], texts: Sequence[str]) -> Features:
        """Features for embeddings ``X`` (row-aligned with ``texts``)."""
        if not hasattr(self, "vectorizers_"):
            raise ModelError("FeatureBuilder is not fitted")
        X = np.asarray(X, dtype=np.float64)
        if not self.vectorizers_:
            return X
        if len(texts) != X.shape[0]:
            raise ModelError(f"{len(texts)} texts for {X.shape[0]} embeddings")
        blocks = [sparse.csr_matrix(X)]
        blocks += [vec.transform(list(texts)) * self.ngram_weight for vec in self.vectorizers_]
        return sparse.hstack(blocks, format="csr")
