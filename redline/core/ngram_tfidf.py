"""TF-IDF of word or char_wb n-grams over a fixed vocabulary, as scikit-learn's ``TfidfVectorizer`` does.

Why our own transform (fitting still uses ``TfidfVectorizer``): importing scikit-learn takes 1.8-2.7 s
(``python -X importtime``: ``sklearn.utils`` pulls in ``scipy.stats``), about half of a worker's start
with a loaded model, and a worker only ever transforms with the vocabulary it was given. This is
``TfidfVectorizer(lowercase=True, sublinear_tf=True, norm="l2", token_pattern=r"(?u)\\b\\w\\w+\\b")``'s
``transform`` step by step (analyzer, counts, ``1 + log(tf)``, idf, l2 rows);
``tests/core/test_ngram_tfidf.py`` checks it against scikit-learn on CLINC150 and BANKING77.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import sparse

from redline.errors import ModelError

#: scikit-learn's default ``token_pattern`` (words of two or more word characters)
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
#: scikit-learn's ``_white_spaces`` (runs of whitespace, collapsed before char_wb n-grams)
_WHITE_SPACES = re.compile(r"\s\s+")

ANALYZERS = ("word", "char_wb")
#: words whose char_wb columns a transform remembers before it starts over (a few MiB)
WORD_CACHE_SIZE = 20_000


def word_ngrams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """The word n-grams of ``text`` (lower-cased, scikit-learn's tokens and order)."""
    tokens = _TOKEN.findall(text.lower())
    min_n, max_n = ngram_range
    if max_n == 1:
        return list(tokens)
    grams = list(tokens) if min_n == 1 else []
    for n in range(max(min_n, 2), min(max_n + 1, len(tokens) + 1)):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def char_wb_ngrams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """The character n-grams of ``text`` inside word boundaries, each word padded with one space."""
    min_n, max_n = ngram_range
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text.lower()).split():
        w = f" {word} "
        for n in range(min_n, max_n + 1):
            if len(w) <= n:  # a short word is counted once, whole (scikit-learn's rule)
                grams.append(w)
                break
            grams.extend(w[i : i + n] for i in range(len(w) - n + 1))
    return grams


class NgramTfidf:
    """TF-IDF rows of ``analyzer`` n-grams over a fixed vocabulary (sublinear tf, idf, unit l2 rows).

    Parameters
    ----------
    analyzer : {"word", "char_wb"}
        Word n-grams or character n-grams inside word boundaries.
    ngram_range : tuple of int
        Smallest and largest n.
    terms : sequence of str
        The vocabulary in column order.
    idf : array of float, shape (len(terms),)
        The idf weight of each column.
    """

    def __init__(
        self,
        analyzer: str,
        ngram_range: tuple[int, int],
        terms: Sequence[str],
        idf: Sequence[float] | np.ndarray[Any, Any],
    ) -> None:
        if analyzer not in ANALYZERS:
            raise ModelError(f"unknown n-gram analyzer {analyzer!r} (expected one of {ANALYZERS})")
        self.analyzer = analyzer
        self.ngram_range = (int(ngram_range[0]), int(ngram_range[1]))
        self.terms_ = tuple(str(term) for term in terms)  # column order (what a snapshot stores)
        self.vocabulary_ = {term: col for col, term in enumerate(self.terms_)}
        self.idf_ = np.asarray(idf, dtype=np.float64)
        if len(self.vocabulary_) != len(terms) or self.idf_.shape != (len(terms),) or not terms:
            raise ModelError(f"{analyzer} vocabulary of {len(terms)} terms for {self.idf_.size} idf weights")
        self._grams: Callable[[str, tuple[int, int]], list[str]] = (
            word_ngrams if analyzer == "word" else char_wb_ngrams
        )
        #: char_wb: each word's known columns (a text's n-grams are its words' n-grams, in order)
        self._word_columns: dict[str, list[int]] = {}

    @classmethod
    def from_vectorizer(cls, vectorizer: Any) -> NgramTfidf:
        """The transform of a fitted scikit-learn ``TfidfVectorizer`` (its vocabulary and idf)."""
        terms = [""] * len(vectorizer.vocabulary_)
        for term, col in vectorizer.vocabulary_.items():
            terms[col] = term
        return cls(vectorizer.analyzer, tuple(vectorizer.ngram_range), terms, vectorizer.idf_)

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """One unit-norm TF-IDF row per text (all zeros when no n-gram is in the vocabulary)."""
        columns_of = self._char_wb_columns if self.analyzer == "char_wb" else self._gram_columns
        indices: list[int] = []
        indptr = [0]
        for text in texts:
            indices.extend(columns_of(text))  # one entry per known n-gram: summed into counts below
            indptr.append(len(indices))
        X = sparse.csr_matrix(
            (np.ones(len(indices)), np.asarray(indices, dtype=np.int32), np.asarray(indptr)),
            shape=(len(indptr) - 1, len(self.vocabulary_)),
        )
        X.sum_duplicates()  # sorts each row's columns and counts them
        np.log(X.data, out=X.data)
        X.data += 1.0
        X.data *= self.idf_[X.indices]
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        norms = np.sqrt(np.bincount(rows, weights=X.data * X.data, minlength=X.shape[0]))
        norms[norms == 0.0] = 1.0
        X.data /= norms[rows]
        return X

    def _gram_columns(self, text: str) -> list[int]:
        vocabulary = self.vocabulary_
        return [c for g in self._grams(text, self.ngram_range) if (c := vocabulary.get(g)) is not None]

    def _char_wb_columns(self, text: str) -> list[int]:
        # char_wb n-grams never cross a word, so each word's columns are looked up once and remembered:
        # 30,000 CLINC150 texts took 4.2 s one n-gram at a time (the leader's first learning step at
        # 1000 labels builds them all), 0.6 s by word (benchmarks/bench_ngram_features.py)
        known = self._word_columns
        columns: list[int] = []
        for word in _WHITE_SPACES.sub(" ", text.lower()).split():
            cols = known.get(word)
            if cols is None:
                cols = self._gram_columns(word)
                if len(known) >= WORD_CACHE_SIZE:
                    known.clear()
                known[word] = cols
            columns.extend(cols)
        return columns
