"""Fixtures of the stream tests (built in :mod:`stream_world`)."""

from __future__ import annotations

from stream_world import msg_fixture, world  # noqa: F401  (pytest fixtures)
