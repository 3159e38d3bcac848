"""``redline status``: one look at a running deployment, from its topics and its workers' metrics.

Shows the workers' consumer group (members, and the lag of every partition it reads), the newest
model snapshot and the judge policy it carries, the dead letters and the drift / rejected events of
the last hour, and from each worker's ``/metrics`` its results by status, leadership and judge breaker.
A table by default; ``--json`` prints the same as one JSON object. An unreachable broker, or no
deployment under the prefix, is one ``redline: error: ...`` line and exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from redline.commands.deployment_client import add_deployment_flags, deployment_settings
from redline.commands.settings_flags import SettingsHelpFormatter
from redline.errors import ConfigError


def register(subparsers: Any) -> None:
    """Add ``redline status``."""
    parser = subparsers.add_parser(
        "status",
        help="summarise a running deployment (group, lag, model, dead letters, workers' metrics)",
        description=__doc__,
        formatter_class=SettingsHelpFormatter,
    )
    add_deployment_flags(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument(
        "--window", type=float, default=3600.0, metavar="SECONDS",
        help="count dead letters and events of this many last seconds (default 3600: the last hour)",
    )  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the deployment's summary; exit 0 (errors are raised as RedlineError: exit 1)."""
    from redline.streams.deployment_status import deployment_status

    if not args.window > 0:
        raise ConfigError(f"--window must be a positive number of seconds, not {args.window:g}")
    settings = deployment_settings(args)
    summary = asyncio.run(deployment_status(settings, window_s=args.window))
    print(json.dumps(summary, indent=2, sort_keys=True) if args.json else render(summary))
    return 0


def render(summary: dict[str, Any]) -> str:
    """The summary as a few aligned lines and tables."""
    group, model, hour = summary["group"], summary["model"], summary["last_hour"]
    lines = [
        f"deployment   {summary['topic_prefix']}* at {summary['bootstrap']}",
        f"group        {group['id']} ({group['state'] or 'unknown'}, {len(group['members'])} member(s))",
    ]
    if model is not None:
        lines.append(
            f"model        {model['version']}: {model['labels']} labels, {model['examples']} examples, "
            f"{model['learned']} learned ({model['reason'] or 'no reason given'})"
        )
    else:
        lines.append("model        none published yet")
    policy = summary["judge_policy"]
    lines.append(
        "judge policy " + (", ".join(f"{k}={v}" for k, v in sorted(policy.items())) if policy else "unknown")
    )
    minutes = hour["window_s"] / 60.0
    lines.append(
        f"last {minutes:g} min  {hour['dead_letters']} dead letters, {hour['drift_events']} drift events, "
        f"{hour['rejected_events']} rejected commands"
    )
    lines += ["", _table(["topic", "partition", "committed", "end", "lag"],
                         [[p["topic"], p["partition"], _dash(p["committed"]), p["end"], _dash(p["lag"])]
                          for p in group["lag"]])]  # fmt: skip
    rows = []
    for member in group["members"]:
        m = member.get("metrics", {})
        if "error" in m:
            rows.append([member["host"], member["url"] or "-", "-", "-", "-", m["error"]])
            continue
        results = " ".join(f"{k}={v}" for k, v in sorted(m["results"].items()) if v) or "none"
        rows.append([member["host"], member["url"] or "-", "yes" if m["leader"] else "no",
                     _dash(m["model_version"]), _dash(m["breaker_state"]), results])  # fmt: skip
    lines += ["", _table(["worker host", "url", "leader", "model", "breaker", "results"], rows)]
    return "\n".join(lines)


def _dash(value: Any) -> str:
    return "-" if value is None else str(value)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    text = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(text if rows else [*text, "(none)"])
