"""Judge-confirmed examples waiting to be learned (R.E.D. step 5).

Results with status *validated* or *corrected* carry a label the judge confirmed; their examples wait
here, with the embedding the classify step computed (never embedded twice), until ``learn_every`` of
them are due; the worker then learns them on its learning thread. A failed update gives its examples
back, so the next one retries them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from redline.streams.resolve_step import LearnedExample


class Learner:
    """The examples waiting to be learned.

    Parameters
    ----------
    learn_every : int
        An update is due once this many examples wait (0: never learn; examples are dropped).
    """

    def __init__(self, learn_every: int) -> None:
        self.learn_every = learn_every
        self._pending: list[LearnedExample] = []
        self._lock = threading.Lock()  # added on the event loop, taken on the learning thread

    @property
    def waiting(self) -> int:
        """How many examples wait."""
        return len(self._pending)

    def add(self, example: LearnedExample) -> bool:
        """Queue one example; True when an update is due."""
        if self.learn_every <= 0:
            return False
        with self._lock:
            self._pending.append(example)
            return len(self._pending) >= self.learn_every

    def take(self) -> list[LearnedExample]:
        """Every waiting example (the queue is emptied)."""
        with self._lock:
            batch, self._pending = self._pending, []
        return batch

    def give_back(self, batch: Sequence[LearnedExample]) -> None:
        """Return the examples of a failed update to the front of the queue."""
        with self._lock:
            self._pending = [*batch, *self._pending]
