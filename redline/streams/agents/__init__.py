"""redline.streams.agents."""

from __future__ import annotations
