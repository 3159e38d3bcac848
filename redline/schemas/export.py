"""Write the JSON Schema file of every topic record to ``redline/schemas/json/``."""

from __future__ import annotations

import json
from pathlib import Path

from redline.schemas.codec import json_schema
from redline.schemas.records import RECORD_BY_TOPIC

#: where the checked-in schema files live (shipped as package data)
SCHEMA_DIR = Path(__file__).with_name("json")


def _file_name(topic: str) -> str:
    return f"redline.{topic}.schema.json"


def render_schemas(prefix: str = "redline.") -> dict[str, str]:
    """File name -> JSON text of each topic's record schema (deterministic, sorted keys)."""
    out: dict[str, str] = {}
    for topic, cls in RECORD_BY_TOPIC.items():
        schema = json_schema(cls, topic=f"{prefix}{topic}")
        out[_file_name(topic)] = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return out


def export_schemas(directory: Path = SCHEMA_DIR, *, check: bool = False) -> list[Path]:
    """Write the schema files into ``directory`` (or, with ``check``, list the stale ones).

    Returns the files written, or with ``check=True`` the files that are missing or differ
    from what the code would write now (nothing is written then).
    """
    rendered = render_schemas()
    changed: list[Path] = []
    if not check:
        directory.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        path = directory / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            changed.append(path)
            if not check:
                path.write_text(text, encoding="utf-8")
    if directory.exists():
        known = set(rendered)
        changed.extend(p for p in sorted(directory.glob("*.schema.json")) if p.name not in known)
    return changed
