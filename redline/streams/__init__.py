"""redline.streams."""

from __future__ import annotations
