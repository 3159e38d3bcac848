"""redline: Recursive Expert Delegation (R.E.D.) text classification on Apache Kafka."""

from __future__ import annotations

__version__ = "0.1.0"
