"""Checks shared by every reader of a model folder written by ``redline fit`` (predict, worker)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redline.errors import ModelError


def check_embedder(metadata: Mapping[str, Any], embedder: Any, where: object) -> None:
    """Refuse a model fitted on embeddings of another model than ``embedder`` computes.

    Parameters
    ----------
    metadata : mapping
        The model folder's metadata; ``embedder`` names the embedding model it was fitted with.
    embedder : object
        The embedder of this run; its ``model_id`` (when it has one) must match.
    where : object
        Names the model in the error (its folder).

    Raises
    ------
    ModelError
        One line naming both embedding models.
    """
    want = getattr(embedder, "model_id", None)
    fitted = metadata.get("embedder")
    if want is not None and fitted not in (None, want):
        raise ModelError(f"{where}: fitted on embeddings of {fitted}, this run embeds with {want}")
