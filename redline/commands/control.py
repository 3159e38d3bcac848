"""``redline control add-label | update-description | remove-label | retrain | set-policy``.

Operators change a running deployment's classes through ``<prefix>control``. Each command is checked
here first (a bad one is one line, exit 2, and nothing is sent), produced keyed by its id, and then the
deployment's leader answers on ``<prefix>events`` with an event whose ``command_id`` is the command's id:
*applied* (with the snapshot version that carries the change), *rejected* (with the reason) or *info*
(e.g. already applied). The command prints that answer as one line (``--json``: the event).

Exit codes: 0 applied or info (or sent, with ``--no-wait``); 1 rejected; 2 nothing was sent (bad
arguments or input, bad settings, Kafka unreachable, no deployment under the prefix); 3 sent, but no
answer within ``--timeout`` (a leader applies it when it reads it).

By hand
-------
A command is one JSON object (the ``ControlCommand`` record, ``redline schemas``) keyed by its id, on
partition 0 (the leader reads that one), so any Kafka client can send it; e.g. kcat (checked with kcat
1.7.1 against Kafka 3.9)::

    echo '{"id":"c1","command":"add_label","label":"x","examples":["a b","c d"]}' \\
        | kcat -b HOST:PORT -t redline.control -P -p 0 -k c1
    kcat -b HOST:PORT -t redline.events -C -o beginning -e -q | grep '"command_id":"c1"'

The second line prints the answer once the leader has written it (events are compact JSON). A command
sent twice with one id is applied once (the second answer is *info*). kcat writes to a topic that does
not exist yet if the broker creates topics on first use (with the broker's defaults);
``redline control`` refuses a prefix with no deployment instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import uuid
from typing import TYPE_CHECKING, Any

from redline.adapters.jsonl_files import display_name, read_examples
from redline.commands import deployment_client, judge_options
from redline.commands.settings_flags import SettingsHelpFormatter
from redline.errors import ConfigError, InputDataError, JudgeError, KafkaBrokerError

if TYPE_CHECKING:
    from redline.schemas import ControlCommand

#: exit codes besides 0
REJECTED, NOT_SENT, NO_ANSWER = 1, 2, 3
#: largest command sent (bytes): Kafka takes messages up to about 1 MiB unless its topics say otherwise
MAX_COMMAND_BYTES = 1_000_000
#: examples shown to the LLM when ``--describe`` asks it for a description (as ``redline describe``)
DESCRIBE_EXAMPLES = 20
#: the set-policy flags: (policy key, flag, dest, parse)
POLICY_FLAGS = (
    ("judge_share", "--judge-share", "policy_judge_share", float),
    ("threshold", "--threshold", "policy_threshold", float),
    ("max_candidates", "--max-candidates", "policy_max_candidates", int),
    ("context_examples", "--context-examples", "policy_context_examples", int),
)


def _fail(message: str) -> int:
    print(f"redline: error: {message}", file=sys.stderr)
    return NOT_SENT


def _examples(args: argparse.Namespace) -> list[str]:
    """``--example`` texts, then the texts of ``--examples`` (a line's label, if any, must be --label)."""
    texts = list(args.example or [])
    if args.examples is not None:
        for example in read_examples(args.examples, require_label=False):
            if example.label is not None and example.label != args.label:
                raise InputDataError(
                    f"{display_name(args.examples)}:{example.line}: label {example.label!r} is not "
                    f"--label {args.label!r}"
                )
            texts.append(example.text)
    return texts


def _policy(args: argparse.Namespace) -> dict[str, int | float | None]:
    policy: dict[str, int | float | None] = {}
    for key, flag, dest, parse in POLICY_FLAGS:
        raw = getattr(args, dest)
        if raw is None:
            continue
        if key == "threshold" and raw.strip().lower() == "none":
            policy[key] = None  # back to the judge share's adaptive threshold
            continue
        try:
            policy[key] = parse(raw)
        except ValueError:
            kind = "an integer" if parse is int else "a number" + (" or none" if key == "threshold" else "")
            raise InputDataError(f"{flag}: not {kind}: {raw!r}") from None
    if not policy:
        raise InputDataError(
            f"set-policy needs at least one of {', '.join(f for _, f, _, _ in POLICY_FLAGS)}"
        )
    return policy


def _describe(label: str, examples: list[str], model: str | None) -> str:
    """One short description of ``label`` from the LLM, as ``redline describe`` asks for it."""
    from redline.judge.prompt import clean_description, describe_prompt

    model = model or os.environ.get("REDLINE_DESCRIBE_MODEL") or None
    settings = judge_options.settings_from_args(
        argparse.Namespace(), defaults={"breaker_threshold": 0}, model=model
    )
    shown = random.Random(0).sample(examples, min(len(examples), DESCRIBE_EXAMPLES))
    messages = describe_prompt(label, shown, max_examples=DESCRIBE_EXAMPLES)

    async def ask() -> str:
        judge = judge_options.make_judge(settings)
        try:
            return clean_description(await judge.complete(messages))
        finally:
            await judge.aclose()

    description = asyncio.run(ask())
    if not description:
        raise JudgeError(f"the LLM gave no usable description of {label!r}: give one with --description")
    return description


def build_command(args: argparse.Namespace) -> ControlCommand:
    """The command the arguments ask for, validated (InputDataError or RecordError: one line why not)."""
    from redline.schemas import ControlCommand

    command_id = uuid.uuid4().hex if args.command_id is None else args.command_id
    fields: dict[str, Any] = {"id": command_id, "command": args.control}
    if args.control in ("add_label", "update_description", "remove_label"):
        if not (args.label or "").strip():
            raise InputDataError(f"{args.control.replace('_', '-')} needs --label (not empty)")
        fields["label"] = args.label
    if args.control == "add_label":
        fields["examples"] = _examples(args)
        fields["description"] = args.description or ""
    if args.control == "update_description":
        if args.description is None:
            raise InputDataError("update-description needs --description")
        fields["description"] = args.description
    if args.control == "set_policy":
        fields["policy"] = _policy(args)
    command = ControlCommand(**fields)
    if getattr(args, "describe", False):
        from dataclasses import replace

        command = replace(
            command, description=_describe(command.label, list(command.examples), args.describe_model)
        )
    return command


def run_control(args: argparse.Namespace) -> int:
    """Check the command, send it, await and print the leader's answer."""
    from redline.schemas import encode, to_dict

    try:
        command = build_command(args)
        size = len(encode(command))
        if size > MAX_COMMAND_BYTES:
            raise InputDataError(
                f"the command is {size} bytes, over the {MAX_COMMAND_BYTES} a Kafka message takes by "
                "default: send fewer or shorter examples (add more with later commands)"
            )
        settings = deployment_client.deployment_settings(args)
        wait_s = None if args.no_wait else args.wait_s
        answer = asyncio.run(deployment_client.send_command(settings, command, wait_s=wait_s))
    except (InputDataError, ConfigError, JudgeError, KafkaBrokerError) as exc:  # nothing was sent
        return _fail(str(exc))
    where = f"{answer.topic} (partition {answer.partition}, offset {answer.offset})"
    if wait_s is None:
        if args.json:
            print(json.dumps({"command_id": command.id, "topic": answer.topic, "partition": answer.partition,
                              "offset": answer.offset}))  # fmt: skip
        else:
            label = f" {command.label!r}" if command.label else ""
            print(f"sent {command.command}{label} as {command.id} to {where}")
        return 0
    event = answer.event
    if event is None:
        why = f" ({answer.problem})" if answer.problem else ""
        print(
            f"redline: error: no answer to command {command.id} on {settings.topics.events} within "
            f"{args.wait_s:g} s{why}: is a worker running under the prefix {settings.topic_prefix!r}? "
            f"The command is on {where}; a leader applies it when it reads it.",
            file=sys.stderr,
        )
        return NO_ANSWER
    if args.json:
        print(json.dumps(to_dict(event), ensure_ascii=False))
    else:
        version = f" ({answer.model_version})" if event.kind == "applied" and answer.model_version else ""
        print(f"{event.kind}: {event.reason or event.subject}{version}")
    return REJECTED if event.kind == "rejected" else 0


def _wait_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {value}")
    return seconds


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--id", dest="command_id", metavar="ID", help="the command's id (default: a fresh uuid)")
    p.add_argument(
        "--timeout", dest="wait_s", type=_wait_seconds, default=120.0, metavar="SECONDS",
        help="seconds to wait for the answer (120); then exit 3",
    )  # fmt: skip
    p.add_argument("--no-wait", action="store_true", help="send the command and exit 0 without waiting")
    p.add_argument("--json", action="store_true", help="print the answer event as JSON")
    deployment_client.add_deployment_flags(p)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``control`` command group."""
    group = subparsers.add_parser(
        "control",
        help="change a running deployment's labels and policy (redline.control)",
        description="Send an operator's command to <prefix>control and print the leader's answer from "
        "<prefix>events. Exit codes: 0 applied or info (or sent, with --no-wait), 1 rejected, 2 nothing "
        "sent (bad arguments or input, bad settings, Kafka unreachable, no deployment under the prefix), "
        "3 no answer within --timeout.",
    )
    sub = group.add_subparsers(dest="control_command", metavar="SUBCOMMAND", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, formatter_class=SettingsHelpFormatter)
        p.set_defaults(func=run_control, control=name.replace("-", "_"))
        return p

    p = command("add-label", "add a label with its examples")
    p.add_argument("--label", help="the new label (required)")
    p.add_argument(
        "--example", action="append", metavar="TEXT", help="an example text (repeat it; 2 or more)"
    )
    p.add_argument("--examples", metavar="FILE", help='JSONL with a "text" per line; - for stdin')
    described = p.add_mutually_exclusive_group()
    described.add_argument("--description", help="what the label means (shown to the judge)")
    described.add_argument(
        "--describe", action="store_true",
        help="ask the LLM for the description, as `redline describe` does (OPENAI_BASE_URL, OPENAI_API_KEY, "
        "REDLINE_JUDGE_*)",
    )  # fmt: skip
    p.add_argument(
        "--describe-model",
        metavar="MODEL",
        help="the model --describe asks (default: $REDLINE_DESCRIBE_MODEL, else the judge's model)",
    )
    _common(p)

    p = command("update-description", "change a label's description")
    p.add_argument("--label", help="the label (required)")
    p.add_argument("--description", help="its new description (required)")
    _common(p)

    p = command("remove-label", "remove a label and its examples")
    p.add_argument("--label", help="the label (required)")
    _common(p)

    _common(command("retrain", "refit the model on every example now"))

    p = command("set-policy", "change who is asked: the judge share, threshold, candidates, examples shown")
    p.add_argument("--judge-share", dest="policy_judge_share", help="share of texts sent to the judge, 0..1")
    p.add_argument(
        "--threshold", dest="policy_threshold",
        help="fixed uncertainty threshold 0..1, or none to go back to the judge share",
    )  # fmt: skip
    p.add_argument(
        "--max-candidates", dest="policy_max_candidates", help="labels asked about per text, 1..50"
    )
    p.add_argument(
        "--context-examples", dest="policy_context_examples", help="examples shown per label, 0..20"
    )
    _common(p)
