"""NgramTfidf gives scikit-learn's TfidfVectorizer output without importing scikit-learn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from redline.adapters.bundled_datasets import load_dataset
from redline.core import ngram_tfidf
from redline.core.features import NGRAM_BLOCKS, FeatureBuilder
from redline.core.ngram_tfidf import NgramTfidf
from redline.errors import ModelError

EDGE_TEXTS = [
    "",
    "   ",
    "a",
    "I",
    "ab",
    "x y z",
    "İstanbul ÇAĞRI straße",  # lower() changes the length of "İ"
    "tab\tsep\nnew  line\r\n  end ",
    "don't stop-me now!! 42 4x4 e-mail@host.com",
    "emoji 🙂🙂 and ｆｕｌｌ width",
    "漢字のテキスト 中文",
    "combining e\u0301 and \u00e9",
    "repeat repeat repeat repeat",
    "x" * 300,
]


def _vectorizer(analyzer: str, ngram_range: tuple[int, int], max_features: int = 10000) -> TfidfVectorizer:
    return TfidfVectorizer(
        sublinear_tf=True, min_df=1, max_features=max_features, analyzer=analyzer, ngram_range=ngram_range
    )


def _same(ours: sparse.csr_matrix, theirs: object) -> None:
    theirs = sparse.csr_matrix(theirs)
    theirs.sort_indices()
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours.indptr, theirs.indptr)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    np.testing.assert_allclose(ours.data, theirs.data, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ["clinc150", "banking77"])
@pytest.mark.parametrize(("analyzer", "ngram_range"), [*NGRAM_BLOCKS, ("word", (1, 1)), ("char_wb", (3, 4))])
def test_same_rows_as_scikit_learn_on_real_texts(
    name: str, analyzer: str, ngram_range: tuple[int, int]
) -> None:
    splits = load_dataset(name).splits
    train = [e.text for e in splits["train"]][::7]  # a seed-sized vocabulary
    texts = [e.text for e in splits["test"]] + EDGE_TEXTS
    fitted = _vectorizer(analyzer, ngram_range).fit(train + EDGE_TEXTS[6:])
    ours = NgramTfidf.from_vectorizer(fitted)
    _same(ours.transform(texts), fitted.transform(texts))


@pytest.mark.parametrize(("analyzer", "ngram_range"), NGRAM_BLOCKS)
def test_capped_vocabulary_and_unknown_grams(analyzer: str, ngram_range: tuple[int, int]) -> None:
    fitted = _vectorizer(analyzer, ngram_range, max_features=40).fit(EDGE_TEXTS)
    ours = NgramTfidf.from_vectorizer(fitted)
    texts = [*EDGE_TEXTS, "nothing known here qqq", "zzzz"]
    X = ours.transform(texts)
    _same(X, fitted.transform(texts))
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    assert set(np.round(norms, 12)) <= {0.0, 1.0}  # unit rows, or empty where nothing is known
    assert X.dtype == np.float64 and X.shape == (len(texts), 40)


def test_feature_builder_state_round_trip_transforms_alike() -> None:
    texts = [e.text for e in load_dataset("clinc150").splits["train"]][::11]
    X = np.random.default_rng(0).normal(size=(len(texts), 8))
    builder = FeatureBuilder("embedding+ngrams", ngram_weight=0.5).fit(texts)
    restored = FeatureBuilder.from_state(builder.to_state())
    a, b = builder.transform(X, texts), restored.transform(X, texts)
    assert (a != b).nnz == 0
    assert a.shape[1] == 8 + sum(len(v.vocabulary_) for v in builder.vectorizers_)


def test_bad_vocabulary_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="2 terms for 3 idf"):
        NgramTfidf("word", (1, 2), ["a", "b"], [1.0, 2.0, 3.0])
    with pytest.raises(ModelError, match="2 terms for 2 idf"):
        NgramTfidf("word", (1, 2), ["a", "a"], [1.0, 2.0])  # a repeated term
    with pytest.raises(ModelError, match="unknown n-gram analyzer"):
        NgramTfidf("char", (1, 2), ["a"], [1.0])


def test_restoring_and_scoring_a_model_does_not_import_scikit_learn(tmp_path: Path) -> None:
    """What a worker does with a published model (restore, score) must not pay scikit-learn's import."""
    from redline.core.classifier import RedClassifier
    from redline.core.config import EngineConfig

    rng = np.random.default_rng(0)
    texts = [f"text number {i} about topic {i % 3}" for i in range(30)]
    y = [f"label{i % 3}" for i in range(30)]
    X = rng.normal(size=(30, 16)).astype(np.float32)
    model = RedClassifier(EngineConfig()).fit(X, texts, y, {f"label{k}": f"topic {k}" for k in range(3)})
    state = tmp_path / "state.npy"
    np.save(state, np.array([model.to_state()], dtype=object), allow_pickle=True)
    script = f"""
import sys, numpy as np
from redline.core.classifier import RedClassifier
model = RedClassifier.from_state(np.load({str(state)!r}, allow_pickle=True)[0])
p = model.predict_proba(np.ones((2, 16), dtype=np.float32), ["text number 1", "topic 2"])
assert p.shape == (2, 3), p.shape
print(sorted(m for m in sys.modules if m.split(".")[0] == "sklearn"))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_remembered_words_are_bounded_and_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ngram_tfidf, "WORD_CACHE_SIZE", 5)
    fitted = _vectorizer("char_wb", (2, 5)).fit(EDGE_TEXTS)
    ours = NgramTfidf.from_vectorizer(fitted)
    texts = [*EDGE_TEXTS, *(f"word{i} again{i % 3} repeat" for i in range(40)), *EDGE_TEXTS]
    for _ in range(2):  # the second pass reads words remembered by the first (those still kept)
        _same(ours.transform(texts), fitted.transform(texts))
        assert 0 < len(ours._word_columns) <= 5
