"""``python -m redline`` runs the CLI."""

from __future__ import annotations

import sys

from redline.cli import main

sys.exit(main())
