"""The pure R.E.D. algorithm: no I/O, no Kafka, no HTTP, no model downloads.

Only numpy, scikit-learn, scipy, river and umap may be imported here (``tests/core/test_purity.py``).
"""

from __future__ import annotations
