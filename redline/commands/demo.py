"""``make demo``: a deployment of two workers on a real Kafka broker, CLINC150 streaming through, and a
class added while it runs.

Steps (each one the same code a user runs):
1. start a local Kafka broker (``redline kafka`` code) on port 19092, or a free port;
2. export CLINC150 seed / pool / test (``redline datasets export``) and hold three classes back from the
   seed set (:mod:`~redline.commands.demo_scenario`): one is added at run time, one arrives in a
   *concept-shift* segment filed under a known label (a ``drift`` event), one in a *new-intent* segment
   that no label covers (a ``new_label_suggested`` event);
3. fit a model on the seed set and publish it to the deployment (``redline fit --publish``);
4. start two workers with only the broker address (``redline worker --bootstrap``) and a simulated expert
   as judge (ground truth with 5 % errors: no LLM is reachable here; ``--judge openai:<model>`` with
   ``OPENAI_BASE_URL`` uses a real one);
5. stream test texts at a steady rate (and three malformed messages) to ``redline.texts``; halfway, add
   the held-back class with a handful of examples (``redline control add-label``), then the two segments;
6. read ``redline.labels``, ``redline.deadletter`` and ``redline.events`` with a live line (drift and
   new-label events printed as they come), then print a summary: accuracy, the added class before and
   after, the model versions, the drift and suggested classes with their delay, each worker's share;
7. stop the workers and the broker, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from redline.adapters.jsonl_files import read_examples, read_labels
from redline.commands.demo_scenario import build_stream, hold_back, pick_scenario, write_judge_truth
from redline.commands.demo_summary import WATCH_KINDS, DemoRun, Watched, event_line, render, summary_json
from redline.errors import RedlineError
from redline.schemas import DeadLetter, Event, LabelResult, TextIn, decode
from redline.streams.clients import Collected, collect, produce, text_messages
from redline.streams.result_summary import ResultSummary
from redline.streams.settings import TopicNames

MALFORMED = (
    (b"demo-bad-json", b'{"id": "demo-bad-json", "text": '),
    (b"demo-no-text", b'{"id": "demo-no-text"}'),
    (b"demo-binary", b"\x89PNG\r\n\x1a\n"),
)
TOPICS = TopicNames.with_prefix("redline.")
#: seconds the demo waits after the last result for a drift and a new-label event still missing
WATCH_GRACE_S = 60.0
#: the demo deployment's consumer group (the workers' app id; the model is published for it)
APP_ID = "redline-demo"


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def _redline(*args: str, env: dict[str, str]) -> None:
    """Run a ``redline`` sub-command as a user would; stop the demo if it fails."""
    proc = subprocess.run([sys.executable, "-m", "redline", *args], env=env)
    if proc.returncode != 0:
        raise RedlineError(f"`redline {' '.join(args)}` failed with exit code {proc.returncode}")


def _start_broker(work: Path, port: int) -> tuple[Any, str]:
    from redline.broker import BrokerSettings, LocalKafkaBroker
    from redline.broker.ports import find_free_port, port_is_free

    if not port_is_free("127.0.0.1", port):
        port = find_free_port()
        _say(f"port 19092 is taken; using {port}")
    data = work / "kafka"
    shutil.rmtree(data, ignore_errors=True)  # a fresh broker: the demo's numbers are this run's
    broker = LocalKafkaBroker(BrokerSettings(data_dir=data, port=port, start_timeout_s=240.0), log=_say)
    return broker, broker.start()


def wait_until_ready(
    worker: subprocess.Popen[bytes], web_port: int, log: Path, timeout_s: float = 600.0, poll_s: float = 0.5
) -> float:
    """Wait until the worker's ``/redline/ready/`` page answers 200 (state loaded, consumer group
    joined), asking every ``poll_s`` seconds; return the seconds it took."""
    started = time.monotonic()
    url = f"http://127.0.0.1:{web_port}/redline/ready/"
    while time.monotonic() - started < timeout_s:
        if worker.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-15:]
            print("\n".join(tail), file=sys.stderr)
            raise RedlineError(f"the worker exited with code {worker.returncode} (log: {log})")
        try:
            with urllib.request.urlopen(url, timeout=2) as page:
                if page.status == 200:
                    return time.monotonic() - started
        except (OSError, ValueError):  # not listening yet, or 503 (not ready)
            pass
        time.sleep(poll_s)
    raise RedlineError(f"the worker was not ready within {timeout_s:.0f} s (log: {log})")


def stats_page(web_port: int) -> dict[str, Any]:
    """A worker's ``/redline/stats/`` page ({} when it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/redline/stats/", timeout=10) as page:
            return dict(json.loads(page.read()))
    except (OSError, ValueError):
        return {}


def stop_worker(worker: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM (a clean shutdown), then SIGKILL after a minute."""
    if worker is None or worker.poll() is not None:
        return
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


async def _stream(
    args: argparse.Namespace,
    bootstrap: str,
    parts: tuple[Sequence[TextIn], Sequence[TextIn], Sequence[TextIn]],
    summary: ResultSummary,
    add_label: list[str],
    env: dict[str, str],
    announce: Sequence[tuple[int, str]] = (),
) -> tuple[Collected, int, list[Watched]]:
    """Produce the texts at ``--rate`` in three parts (malformed ones mixed into the first): the first
    half, then the second half while ``add_label`` runs (saying ``announce[i][1]`` when its position
    ``announce[i][0]`` of the stream comes), then, once it was applied, the held-back class's remaining
    texts; read the results until every id has one and the command's events are in, printing the drift
    and new-label events as they come. Returns what was read, the ``add_label`` command's exit code and
    the watch events with how far the stream had got when each arrived."""
    ids = {t.id for part in parts for t in part}
    last_print = [0.0]
    tty = sys.stdout.isatty()
    control_code: list[int] = []
    watched: list[Watched] = []
    finished: list[float] = []

    def on_record(topic: str, record: Any, got: Collected) -> None:
        if topic == TOPICS.labels:
            result = decode(LabelResult, record.value)
            if result.id in ids:
                summary.add(result)
        elif topic == TOPICS.events:
            event = decode(Event, record.value)
            if event.kind in WATCH_KINDS:
                watched.append(Watched(event, summary.count))
                print(("\n" if tty else "") + "[demo] >>> " + event_line(event), flush=True)
        now = time.monotonic()
        if now - last_print[0] >= (0.5 if tty else 3.0):
            last_print[0] = now
            print(
                ("\r" if tty else "") + "[demo] " + summary.line(len(ids)),
                end="" if tty else "\n",
                flush=True,
            )

    def done(got: Collected) -> bool:
        letters = sum(1 for r in got.records[TOPICS.deadletter] if r.key and r.key.startswith(b"demo-"))
        answered = bool(control_code) and (
            control_code[0] != 0
            or any(decode(Event, r.value).kind == "applied" for r in got.records[TOPICS.events])
        )
        if not (summary.count >= len(ids) and letters >= len(MALFORMED) and answered):
            return False
        # the leader may publish a drift or a suggestion a little after the last result: wait for both
        # (at most WATCH_GRACE_S)
        finished[:] = finished[:1] or [time.monotonic()]
        kinds = {w.event.kind for w in watched}
        return {"drift", "new_label_suggested"} <= kinds or time.monotonic() - finished[0] > WATCH_GRACE_S

    summary.started = time.monotonic()
    first: list[tuple[bytes | None, bytes | None]] = list(text_messages(parts[0]))
    for i, bad in enumerate(MALFORMED):  # malformed input arrives mixed into the stream
        first.insert((i + 1) * len(first) // (len(MALFORMED) + 1), bad)
    reader = asyncio.create_task(
        collect(
            bootstrap,
            [TOPICS.labels, TOPICS.deadletter, TOPICS.events],
            done,
            timeout_s=3600,
            on_record=on_record,
        )
    )
    await produce(bootstrap, TOPICS.texts, first, pace_per_s=args.rate)
    if tty:
        print()
    _say(f"    halfway: redline control {' '.join(add_label)}")
    control = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "redline", "control", *add_label, env=env
    )
    offset = len(parts[0])
    cuts = [(at - offset, what) for at, what in announce if offset <= at < offset + len(parts[1])]
    bounds = [0, *(cut for cut, _ in cuts), len(parts[1])]
    for n, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        if n > 0:
            if tty:
                print()
            _say(f"    from here on: {cuts[n - 1][1]}")
        await produce(bootstrap, TOPICS.texts, text_messages(parts[1][lo:hi]), pace_per_s=args.rate)
    control_code.append(await control.wait())
    if tty:
        print()
    _say(f"    streaming the held-back class's other {len(parts[2])} texts")
    await produce(bootstrap, TOPICS.texts, text_messages(parts[2]), pace_per_s=args.rate)
    got = await reader
    if tty:
        print()
    return got, control_code[0], watched


def run(args: argparse.Namespace) -> int:
    """The demo; returns the exit code."""
    work = Path(args.work_dir).absolute()
    work.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    broker = None
    workers: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        t0 = time.monotonic()
        _say(f"1/7 starting Kafka (work dir {work})")
        broker, bootstrap = _start_broker(work, args.port)
        _say(f"    Kafka answers on {bootstrap} ({time.monotonic() - t0:.0f} s)")
        data = work / "data"
        _say(f"2/7 exporting {args.dataset} ({args.seed_per_class} per class), holding three classes back")
        _redline("datasets", "export", "--name", args.dataset, "--seed-per-class", str(args.seed_per_class),
                 "--out", str(data), env=env)  # fmt: skip
        scenario = pick_scenario(sorted(read_labels(data / "labels.jsonl")), args.seed)
        label = scenario.added
        seed_file, labels_file, examples_file = hold_back(data, scenario, args.add_examples)
        stream = build_stream(
            read_examples(data / "test.jsonl"), read_examples(data / "pool.jsonl"), scenario,
            None if args.texts == "all" else int(args.texts), args.seed,
        )  # fmt: skip
        judge_truth = write_judge_truth(data / "judge_truth.jsonl", stream)
        _say(
            f"    held back {label!r} (added later with {args.add_examples} examples), "
            f"{scenario.shifted!r} (later filed under {scenario.widened!r}) and {scenario.new_intent!r} "
            "(never added): the deployment starts without them"
        )
        _say("3/7 fitting on the seed set and publishing the model (`redline fit --publish`)")
        _redline("fit", "--train", str(seed_file), "--labels", str(labels_file), "--out", str(work / "model"),
                 "--no-progress", "--publish", "--bootstrap", bootstrap, "--app-id", APP_ID,
                 env=env)  # fmt: skip
        from redline.broker.ports import find_free_port

        _say(f"4/7 starting {args.workers} workers with only the broker address (judge {args.judge})")
        for n in range(args.workers):
            port = find_free_port()
            log = work / f"worker-{n + 1}.log"
            cmd = [sys.executable, "-m", "redline", "worker", "--bootstrap", bootstrap,
                   "--web-port", str(port), "--judge", args.judge, "--judge-truth", str(judge_truth),
                   "--app-id", APP_ID,
                   # the new intent has 45 texts: a cluster of 6 unresolved ones is enough to be
                   # suggested as a new label (the default, 12, suits real streams)
                   "--new-intent-min-size", "6",
                   "--data-dir", str(work / f"worker-{n + 1}")]  # fmt: skip
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            workers.append((proc, port))
        for n, (proc, port) in enumerate(workers):
            seconds = wait_until_ready(proc, port, work / f"worker-{n + 1}.log")
            _say(
                f"    worker {n + 1} ready in {seconds:.0f} s "
                f"(web port {port}; log {work / f'worker-{n + 1}.log'})"
            )
        run_id = uuid.uuid4().hex[:6]
        ordered = stream.examples
        texts = [TextIn(id=f"{run_id}-{i}", text=e.text, metadata={"source": args.dataset})
                 for i, e in enumerate(ordered)]  # fmt: skip
        # the new intent's texts have no right label: left out of the accuracy figures
        truth = {t.id: str(e.label) for i, (t, e) in enumerate(zip(texts, ordered, strict=True))
                 if i not in stream.uncovered}  # fmt: skip
        first_end, second_end = stream.first_end, stream.second_end
        parts = (texts[:first_end], texts[first_end:second_end], texts[second_end:])
        early = sum(e.label == label for e in ordered[:first_end])
        _say(
            f"5/7 streaming {len(texts)} test texts at {args.rate:g}/s (+{len(MALFORMED)} malformed) to "
            f"{TOPICS.texts}: {early} of {label!r} before it exists, {len(parts[2])} after; two segments "
            f"change the stream: " + "; ".join(f"{g.name} from text {g.start}" for g in stream.segments)
        )
        summary = ResultSummary(truth=truth)
        add_label = ["add-label", "--label", label, "--examples", str(examples_file),
                     "--bootstrap", bootstrap, "--description", label.replace("_", " "),
                     "--timeout", "300"]  # fmt: skip
        announce = [(g.start, f"{g.what} ({g.name})") for g in stream.segments]
        got, control_code, watched = asyncio.run(
            _stream(args, bootstrap, parts, summary, add_label, env, announce)
        )
        for n, (proc, _port) in enumerate(workers):
            if proc.poll() is not None:
                raise RedlineError(f"worker {n + 1} exited early with code {proc.returncode}")
        events = [decode(Event, r.value) for r in got.records[TOPICS.events]]
        added = next((e for e in events if e.kind == "applied" and e.subject.startswith("add_label")), None)
        _say(f"6/7 done (add_label exit code {control_code})")
        stats = [stats_page(port) for _proc, port in workers]
        for n, page in enumerate(stats):  # each worker's stats page as it ended (drift state included)
            (work / f"worker-{n + 1}-stats.json").write_text(json.dumps(page, indent=1) + "\n")
        demo = DemoRun(
            summary=summary,
            truth=truth,
            sent=len(texts),
            malformed=len(MALFORMED),
            held_back=label,
            added=added,
            letters=[decode(DeadLetter, r.value) for r in got.records[TOPICS.deadletter]],
            events=events,
            workers=stats,
            segments=stream.segments,
            watched=watched,
        )
        print(render(demo), flush=True)
        (work / "summary.json").write_text(
            json.dumps({**summary_json(demo), "judge": args.judge}, indent=1) + "\n"
        )
        _say(f"7/7 summary written to {work / 'summary.json'}")
        kinds = {w.event.kind for w in watched}
        shown = {"drift", "new_label_suggested"} <= kinds
        if not shown:
            _say("the run showed no drift or no suggested class (see the summary's events)")
        return 0 if summary.count == len(texts) and added is not None and shown else 1
    except KeyboardInterrupt:
        _say("interrupted; shutting down")
        return 130
    except RedlineError as exc:
        print(f"redline demo: error: {exc}", file=sys.stderr)
        return 1
    finally:
        _say("stopping the workers and Kafka")
        for proc, _port in workers:
            stop_worker(proc)
        if broker is not None:
            broker.stop()


def _texts_arg(value: str) -> str:
    if value == "all" or (value.isdigit() and int(value) > 0):
        return value
    raise argparse.ArgumentTypeError(f"expected a positive number or 'all', got {value!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the demo."""
    p = argparse.ArgumentParser(prog="python -m redline.commands.demo", description=__doc__.split("\n")[0])
    p.add_argument(
        "--texts",
        type=_texts_arg,
        default="1200",
        help="test texts to stream, or 'all' (1200); plus the "
        "held-back class's texts, half before and half after it is added",
    )
    p.add_argument("--rate", type=float, default=40.0, help="texts produced per second (40)")
    p.add_argument("--workers", type=int, default=2, help="workers in the deployment (2)")
    p.add_argument("--add-examples", type=int, default=10, help="examples sent with add_label (10)")
    p.add_argument("--dataset", default="clinc150", choices=("clinc150", "banking77"))
    p.add_argument("--seed-per-class", type=int, default=30, help="labelled examples per class (30)")
    p.add_argument("--judge", default="simulated:0.95", help="judge spec (simulated:0.95)")
    p.add_argument("--port", type=int, default=19092, help="Kafka port (19092, or a free one if taken)")
    p.add_argument("--seed", type=int, default=0, help="which class is held back and which texts stream (0)")
    p.add_argument("--work-dir", default=".redline/demo", help="where the demo keeps Kafka, data and model")
    args = p.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
