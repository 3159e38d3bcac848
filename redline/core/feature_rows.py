"""Training features that grow by rows in place: a learning step copies its new rows, not the matrix.

A model keeps the features of its training rows (a CSR matrix, :meth:`RedClassifier._train_features`)
and each learning step appended its new rows with ``sparse.vstack``: a new matrix, the old one copied.
At 1000 labels (30,000 examples, 16 million stored values) that was 187 MiB allocated and copied per
step. :class:`FeatureRows` keeps the arrays with room to grow (doubling, as a list does) and hands out
matrices that are views of the filled part.

Models copied from one another may share a :class:`FeatureRows`: only the holder of its newest rows
appends in place; any other gets its own copy first, so a matrix handed out never changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse


class FeatureRows:
    """The rows of a CSR matrix with room for more.

    Parameters
    ----------
    F : scipy.sparse.csr_matrix
        The rows so far (copied, with room for as many again).
    """

    def __init__(self, F: sparse.csr_matrix) -> None:
        F = sparse.csr_matrix(F)
        self.n_cols = int(F.shape[1])
        self.rows = 0
        self.nnz = 0
        size = max(2 * F.nnz, 1024)
        self._data: NDArray[Any] = np.empty(size, dtype=F.dtype)
        self._indices: NDArray[Any] = np.empty(size, dtype=_index_dtype(size, self.n_cols))
        self._indptr: NDArray[Any] = np.zeros(max(2 * F.shape[0], 64) + 1, dtype=self._indices.dtype)
        self._view: sparse.csr_matrix | None = None
        self._put(F)

    def matrix(self) -> sparse.csr_matrix:
        """The rows so far: a view of the arrays (no copy), never changed by later appends."""
        if self._view is None:
            n, nnz = self.rows, self.nnz
            self._view = sparse.csr_matrix(
                (self._data[:nnz], self._indices[:nnz], self._indptr[: n + 1]),
                shape=(n, self.n_cols),
                copy=False,
            )
        return self._view

    def holds(self, F: Any) -> bool:
        """True when ``F`` is the newest matrix this hands out (its holder may append in place)."""
        return F is self._view and F is not None

    def marks(self) -> tuple[int, int, sparse.csr_matrix | None]:
        """Where the rows end now (for :meth:`rewind`)."""
        return self.rows, self.nnz, self._view

    def rewind(self, marks: tuple[int, int, sparse.csr_matrix | None]) -> None:
        """Back to ``marks``: the rows appended since are dropped (the next append overwrites them), and
        the matrix handed out then is the newest again. Only for rows nobody else was handed."""
        rows, nnz, view = marks
        if rows <= self.rows and nnz <= self.nnz and (view is None or view.data.base is self._data):
            self.rows, self.nnz, self._view = rows, nnz, view

    def _put(self, block: sparse.csr_matrix) -> None:
        block = sparse.csr_matrix(block, dtype=self._data.dtype)
        rows, nnz = self.rows + block.shape[0], self.nnz + block.nnz
        if nnz > self._data.size:
            size = max(nnz, 2 * self._data.size)
            index = _index_dtype(size, self.n_cols)  # int32 while it can (half the memory), as scipy's
            self._data = _grown(self._data, size, self.nnz)
            self._indices = _grown(self._indices, size, self.nnz, index)
            self._indptr = _grown(self._indptr, self._indptr.size, self.rows + 1, index)
        if rows + 1 > self._indptr.size:
            self._indptr = _grown(self._indptr, max(rows + 1, 2 * self._indptr.size), self.rows + 1)
        self._data[self.nnz : nnz] = block.data
        self._indices[self.nnz : nnz] = block.indices
        self._indptr[self.rows + 1 : rows + 1] = block.indptr[1:] + self.nnz
        self.rows, self.nnz, self._view = rows, nnz, None


def stacked(F_old: Any, F_new: Any, room: FeatureRows | None) -> tuple[Any, FeatureRows | None]:
    """``F_old`` followed by the rows of ``F_new``, and the room that holds them.

    Sparse features grow in ``room`` in place when ``F_old`` is its newest matrix, else in a new room;
    dense features are stacked into a new array (no room).
    """
    if not sparse.issparse(F_new):
        return np.vstack([F_old, F_new]), None
    if room is None or not room.holds(F_old):
        room = FeatureRows(F_old)
    room._put(F_new)
    return room.matrix(), room


def _index_dtype(nnz: int, n_cols: int) -> type[np.signedinteger[Any]]:
    return np.int32 if max(nnz, n_cols) < np.iinfo(np.int32).max else np.int64


def _grown(a: NDArray[Any], size: int, used: int, dtype: Any = None) -> NDArray[Any]:
    out = np.empty(size, dtype=dtype or a.dtype)
    out[:used] = a[:used]
    return out
