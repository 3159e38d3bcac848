"""Changes of a fitted :class:`~redline.core.classifier.RedClassifier`: new examples, labels added,
removed or described.

The model's methods delegate here. Every change rebinds the arrays and lists it
changes instead of writing into them, so a :meth:`RedClassifier.copy` never sees another's change.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from redline.core.classifier_snapshot import partition_without
from redline.core.feature_rows import stacked
from redline.core.features import RowFeatures
from redline.core.flat_new_class import fit_new_class_row
from redline.core.flat_update import update_flat
from redline.core.labels import label_embeddings
from redline.core.training_set import validate_examples
from redline.errors import InputDataError

if TYPE_CHECKING:
    from redline.core.classifier import RedClassifier

FloatArray = NDArray[np.floating]


def built_features(model: RedClassifier, rows: int) -> Any:
    """The model's training features when they are computed for its ``rows`` training rows, else None."""
    F = model._F
    return F if F is not None and F.shape[0] == rows else None


def append_examples(model: RedClassifier, X: FloatArray, texts: Sequence[str], y: NDArray[np.str_]) -> None:
    """Append rows to the training data (and to its features when they are computed)."""
    F_old = built_features(model, len(model._data("learning")))
    model.data_ = model._data("learning").appended(X, texts, y)
    if F_old is None:
        model._F = None  # computed in full when first needed
        return
    model._F, model._F_rows = stacked(F_old, model.features_.transform(X, texts), model._F_rows)


def add_examples(model: RedClassifier, X: FloatArray, texts: Sequence[str], y: Sequence[str]) -> int:
    """Append examples of known labels and update the subsets (retrain the affected ones, or one river
    step per example); returns the first new row."""
    model._check()
    model._data("learning")
    X, texts, y_arr = validate_examples(X, texts, y)
    unknown = sorted(set(y_arr.tolist()) - set(model.classes_.tolist()))
    if unknown:
        raise InputDataError(f"unknown labels {unknown[:5]}: add them with add_label first")
    start = len(model.y_)
    append_examples(model, X, texts, y_arr)
    if model.partition_ is not None:
        affected = sorted({model.partition_.subset_of(lab) for lab in y_arr.tolist()})
        if model._cfg.backend == "river":
            F_new = model._train_features()[start:]
            models = {s: copy.deepcopy(model.subset_models_[s]) for s in affected}  # never shared
            for i, lab in enumerate(y_arr.tolist()):
                models[model.partition_.subset_of(lab)].learn_one(_row(F_new, i), lab)
            model.subset_models_ = [models.get(s, m) for s, m in enumerate(model.subset_models_)]
        else:
            model.subset_models_ = [
                model._fit_subset(s) if s in affected else m for s, m in enumerate(model.subset_models_)
            ]
        model.last_retrained_ = affected
        model._stack()
    return start


def update_flat_model(model: RedClassifier, start: int, pause: Callable[[], None] | None = None) -> None:
    """Move the flat softmax to the rows from ``start`` on without a refit (see :func:`update_flat`;
    ``pause`` is called between the optimiser's evaluations)."""
    data = model._data("update")
    codes = np.searchsorted(model.classes_, data.y).astype(np.int64)
    F = built_features(model, len(data))
    coef, model.flat_intercept_, _ = update_flat(
        F if F is not None else RowFeatures(model.features_, data.X, data.texts),  # the rows it reads
        codes,
        np.arange(start, len(data), dtype=np.int64),
        model.flat_coef_,
        model.flat_intercept_,
        C=model._cfg.C,
        seed=model._cfg.seed,
        settings=model.update_settings,
        pause=pause,
    )
    model.flat_coef_ = np.asfortranarray(coef, dtype=np.float32)  # the flat product's layout (_flat_weights)


def relearn_examples(model: RedClassifier, X: FloatArray, texts: Sequence[str], y: Sequence[str]) -> None:
    """See :meth:`RedClassifier.relearn`: an update with the rows, then the training data (and its
    features) as they were."""
    data, F, room = model._data("relearning"), model._F, model._F_rows
    marks = room.marks() if room is not None else None
    start = add_examples(model, X, texts, y)
    if model._cfg.scorer in ("flat", "hybrid"):
        update_flat_model(model, start)
    if room is not None and marks is not None and model._F_rows is room:
        room.rewind(marks)  # the rows appended in place are dropped: the next step appends in place again
    elif F is None and built_features(model, len(model._data("relearning"))) is not None:
        F = model._F[: len(data)]  # computed for this step (seconds at 1000 labels): the old rows kept
    model.data_, model._F, model._F_rows = data, F, room


def add_label(
    model: RedClassifier, label: str, X: FloatArray, texts: Sequence[str], description: str, refit_flat: bool
) -> None:
    """See :meth:`RedClassifier.add_label`."""
    model._check()
    model._data("add_label")
    X, texts, _ = validate_examples(X, texts, [label] * len(texts))
    if label in set(model.classes_.tolist()):
        raise InputDataError(f"label {label!r} already exists")
    append_examples(model, X, texts, np.full(len(texts), label))
    old_classes = model.classes_
    model.classes_ = np.asarray(sorted([*model.classes_.tolist(), label]))
    model.descriptions_ = dict(model.descriptions_)
    if description:
        model.descriptions_[label] = description
    if model.partition_ is not None:
        e = label_embeddings(X, [label] * len(texts), [label])[0]
        model.partition_ = copy.deepcopy(model.partition_)  # a copied model may share the old one
        s = model.partition_.add_label(label, e)
        models = list(model.subset_models_)
        if s == len(models):
            models.append(model._fit_subset(s))
        else:
            models[s] = model._fit_subset(s)
        model.subset_models_ = models
        model.last_retrained_ = [s]
        model._stack()
    if model._cfg.scorer in ("flat", "hybrid"):
        if refit_flat:
            model._fit_flat()
        else:
            _add_flat_class(model, label, old_classes)


def _add_flat_class(model: RedClassifier, label: str, old_classes: NDArray[np.str_]) -> None:
    """Insert the new class's row into the flat softmax (see :func:`fit_new_class_row`)."""
    cfg = model._cfg
    row, intercept = fit_new_class_row(
        model._train_features(),
        model.y_,
        label,
        model.flat_coef_,
        model.flat_intercept_,
        C=cfg.C,
        max_iter=cfg.max_iter,
        seed=cfg.seed,
        per_label=cfg.noise_per_label,
    )
    pos = int(np.searchsorted(old_classes, label))
    model.flat_coef_ = np.asfortranarray(np.insert(model.flat_coef_, pos, row, axis=0), dtype=np.float32)
    model.flat_intercept_ = np.insert(model.flat_intercept_, pos, intercept)


def remove_label(model: RedClassifier, label: str) -> None:
    """See :meth:`RedClassifier.remove_label`."""
    model._check()
    classes = model.classes_.tolist()
    if label not in classes:
        raise InputDataError(f"unknown label {label!r}")
    if len(classes) <= 2:
        raise InputDataError(f"cannot remove {label!r}: a classifier needs at least 2 labels")
    data = model._data("remove_label")
    keep = data.y != label
    F = built_features(model, len(data))
    if F is not None:
        model._F = F[np.flatnonzero(keep)]
    model.data_ = data.select(keep)
    k = classes.index(label)
    model.classes_ = np.delete(model.classes_, k)
    model.descriptions_ = {lab: d for lab, d in model.descriptions_.items() if lab != label}
    if hasattr(model, "flat_coef_"):
        model.flat_coef_ = np.asfortranarray(np.delete(model.flat_coef_, k, axis=0), dtype=np.float32)
        model.flat_intercept_ = np.delete(model.flat_intercept_, k)
    if model.partition_ is not None:
        s = model.partition_.subset_of(label)
        model.partition_, emptied = partition_without(model.partition_, label)
        models = list(model.subset_models_)
        if emptied:
            del models[s]
        else:
            models[s] = model._fit_subset(s)
        model.subset_models_ = models
        model.last_retrained_ = [] if emptied else [s]
        model._stack()


def set_description(model: RedClassifier, label: str, text: str) -> None:
    """See :meth:`RedClassifier.set_description`."""
    model._check()
    if label not in set(model.classes_.tolist()):
        raise InputDataError(f"unknown label {label!r}")
    model.descriptions_ = {lab: d for lab, d in model.descriptions_.items() if lab != label}
    if text.strip():
        model.descriptions_[label] = text


def _row(F: Any, i: int) -> FloatArray:
    row = F[i]
    return np.asarray(row.toarray()[0] if hasattr(row, "toarray") else row, dtype=np.float64)
