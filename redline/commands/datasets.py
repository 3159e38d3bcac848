"""``redline datasets``: the shipped data sets as JSONL files the other commands read."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from redline.adapters.bundled_datasets import DATASET_NAMES, load_dataset, split_dataset
from redline.adapters.jsonl_files import write_examples, write_labels


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return n


def register(subparsers: Any) -> None:
    """Add ``datasets list`` and ``datasets export``."""
    group = subparsers.add_parser(
        "datasets", help="export the shipped data sets (CLINC150, BANKING77) as JSONL"
    )
    sub = group.add_subparsers(dest="datasets_command", metavar="ACTION")

    lister = sub.add_parser("list", help="show the data sets and their sizes")
    lister.add_argument("--data-dir", type=Path, default=None, help="folder with clinc150/ and banking77/")
    lister.set_defaults(func=run_list)

    export = sub.add_parser(
        "export",
        help="write seed.jsonl, pool.jsonl, test.jsonl and labels.jsonl",
        description="Split a data set into a seed (k labelled examples per class from the official train "
        "split), a pool (the rest of that split) and the official test split, deterministically for --seed.",
    )
    export.add_argument("--name", required=True, choices=DATASET_NAMES)
    export.add_argument(
        "--seed-per-class", type=_positive, default=30, help="labelled examples per class (30)"
    )
    export.add_argument("--seed", type=int, default=0, help="random seed of the split (0)")
    export.add_argument(
        "--max-classes", type=_positive, default=None, help="keep only the first N labels in sorted order"
    )
    export.add_argument("--out", type=Path, required=True, help="output folder")
    export.add_argument("--data-dir", type=Path, default=None, help="folder with clinc150/ and banking77/")
    export.set_defaults(func=run_export)

    def show_help(args: argparse.Namespace) -> int:
        group.print_help(sys.stderr)
        return 2

    group.set_defaults(func=show_help)


def run_list(args: argparse.Namespace) -> int:
    """Print each data set's labels and split sizes."""
    for name in DATASET_NAMES:
        ds = load_dataset(name, args.data_dir)
        sizes = ", ".join(f"{split} {len(examples)}" for split, examples in ds.splits.items())
        print(f"{name}: {len(ds.labels)} labels; {sizes}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Write the four JSONL files and print what was written."""
    ds = load_dataset(args.name, args.data_dir)
    split = split_dataset(
        ds, seed_per_class=args.seed_per_class, seed=args.seed, max_classes=args.max_classes
    )
    out: Path = args.out
    counts = {
        "seed": write_examples(out / "seed.jsonl", split.seed),
        "pool": write_examples(out / "pool.jsonl", split.pool),
        "test": write_examples(out / "test.jsonl", split.test),
        "labels": write_labels(out / "labels.jsonl", split.descriptions),
    }
    print(json.dumps({"dataset": args.name, "seed": args.seed, "out": str(out), "records": counts}))
    return 0
