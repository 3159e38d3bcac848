"""Identical questions asked at the same time share one call instead of paying twice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from redline.core.judge_interface import Verdict


class InFlightQuestions:
    """The questions being asked right now, by cache key, so that a second asker can wait for the first.

    One instance belongs to one event loop.
    """

    def __init__(self) -> None:
        self._pending: dict[str, asyncio.Future[Verdict]] = {}

    async def ask(self, key: str, ask: Callable[[], Awaitable[Verdict]]) -> tuple[Verdict, bool]:
        """``(verdict, shared)``: the answer of the call already in flight for ``key`` (shared=True),
        else of ``ask()``, which others asking ``key`` meanwhile then share.

        A failure of the first asker reaches those sharing its call; a first asker that is
        cancelled does not cancel them: they ask themselves.
        """
        while (pending := self._pending.get(key)) is not None:
            try:
                return await asyncio.shield(pending), True
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if pending.cancelled() and (task is None or not task.cancelling()):
                    continue  # the asker was cancelled, not us: ask ourselves
                raise
        future: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            verdict = await ask()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: those sharing it re-raise it themselves
            raise
        finally:
            self._pending.pop(key, None)
        future.set_result(verdict)
        return verdict, False
