"""``make demo``: a real Kafka broker, a real model, a worker, and CLINC150 texts streaming through.

Steps (each one the same code a user runs):
1. start a local Kafka broker (``redline kafka`` code) on port 19092, or a free port;
2. export CLINC150 seed / pool / test (``redline datasets export``);
3. fit a model on the seed set (``redline fit``);
4. start a worker (``redline worker``) with a simulated expert as judge (ground truth with 5 % errors:
   no LLM is reachable here; ``--judge openai:<model>`` with ``OPENAI_BASE_URL`` uses a real one);
5. produce a few hundred test texts (and three malformed messages) to ``redline.texts``;
6. read ``redline.labels`` and ``redline.deadletter`` with a live summary, then a final one;
7. stop the worker and the broker, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
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

from redline.errors import RedlineError
from redline.schemas import DeadLetter, Event, LabelResult, TextIn, decode
from redline.streams.clients import Collected, collect, produce, text_messages
from redline.streams.result_summary import STATUSES, ResultSummary
from redline.streams.settings import TopicNames

#: the worker's --learn-every (its default)
LEARN_EVERY = 64

MALFORMED = (
    (b"demo-bad-json", b'{"id": "demo-bad-json", "text": '),
    (b"demo-no-text", b'{"id": "demo-no-text"}'),
    (b"demo-binary", b"\x89PNG\r\n\x1a\n"),
)


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
    worker: subprocess.Popen[bytes], web_port: int, log: Path, timeout_s: float = 600.0
) -> float:
    """Wait until the worker's ``/redline/ready/`` page answers 200 (model loaded, consumer group
    joined); return the seconds it took."""
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
        time.sleep(0.5)
    raise RedlineError(f"the worker was not ready within {timeout_s:.0f} s (log: {log})")


def stop_worker(worker: subprocess.Popen[bytes] | None) -> None:
    if worker is None or worker.poll() is not None:
        return
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def _examples(tally: ResultSummary, truth: dict[str, str]) -> list[str]:
    lines = []
    for status in STATUSES:
        picked = [r for r in tally.results.values() if r.status == status][:1]
        for r in picked:
            cands = ", ".join(f"{c.label} {c.p:.2f}" for c in r.candidates[:3])
            lines.append(f"  [{status}] {r.text!r}")
            lines.append(f"      label {r.label} (truth {truth.get(r.id)}), model: {cands}")
            if r.judge is not None:
                asked = ", ".join(f"{a.label}? {'yes' if a.valid else 'no'}" for a in r.judge.attempts)
                lines.append(f"      judge ({r.judge.judge}): {asked}")
            if r.reason:
                lines.append(f"      reason: {r.reason}")
    return lines


def fmt(value: float | None) -> str:
    """A rate with three decimals, or "-" when there is none."""
    return "-" if value is None else f"{value:.3f}"


def _learning_line(events: list[Event]) -> str:
    learned = [e for e in events if e.subject == "learn" and e.kind == "applied"]
    failed = [e for e in events if e.subject == "learn" and e.kind == "rejected"]
    if not learned and not failed:
        return "learning: no update yet (the worker learns judge-confirmed texts in batches of --learn-every)"
    last = learned[-1].model_version if learned else "-"
    return f"learning: {len(learned)} model update(s), {len(failed)} failed; now {last}"


def _summary(
    tally: ResultSummary, letters: list[DeadLetter], events: list[Event], sent: int, truth: dict[str, str]
) -> str:
    acc = tally.accuracy()
    rows = [
        "",
        "=== redline demo: summary ===",
        f"texts sent {sent} (+{len(MALFORMED)} malformed) | results {tally.count}"
        f" | duplicates {tally.duplicates} | dead letters {len(letters)}",
        "by status: " + ", ".join(f"{s} {tally.statuses[s]}" for s in STATUSES),
        f"accuracy vs ground truth: model alone {fmt(acc['model'])} -> delivered {fmt(acc['delivered'])}"
        f" (unresolved count as wrong); precision of emitted labels {fmt(acc['precision'])}",
        f"accuracy by status: accepted {fmt(acc['accepted'])}, validated {fmt(acc['validated'])},"
        f" corrected {fmt(acc['corrected'])}",
        f"judge calls {tally.judge_calls} ({tally.judge_calls / max(tally.count, 1):.2f} per text)",
        _learning_line(events),
        f"throughput {tally.throughput():.1f} texts/s end to end ({tally.to_dict()['seconds']:.1f} s)",
        "examples:",
        *_examples(tally, truth),
        "dead letters:",
        *[f"  offset {d.offset}: {d.reason}" for d in letters],
    ]
    return "\n".join(rows)


async def _stream(
    bootstrap: str,
    topics: TopicNames,
    texts: Sequence[TextIn],
    tally: ResultSummary,
    worker: subprocess.Popen[bytes],
) -> Collected:
    ids = {t.id for t in texts}
    last_print = [0.0]
    tty = sys.stdout.isatty()

    def on_record(topic: str, record: Any, got: Collected) -> None:
        if topic == topics.labels:
            result = decode(LabelResult, record.value)
            if result.id in ids:
                tally.add(result)
        now = time.monotonic()
        if now - last_print[0] >= (0.5 if tty else 3.0):
            last_print[0] = now
            print(
                ("\r" if tty else "") + "[demo] " + tally.line(len(ids)), end="" if tty else "\n", flush=True
            )

    def done(got: Collected) -> bool:
        letters = sum(1 for r in got.records[topics.deadletter] if r.key and r.key.startswith(b"demo-"))
        return (tally.count >= len(ids) and letters >= len(MALFORMED)) or worker.poll() is not None

    tally.started = time.monotonic()
    messages: list[tuple[bytes | None, bytes | None]] = list(text_messages(texts))
    for i, bad in enumerate(MALFORMED):  # malformed input arrives mixed into the stream
        messages.insert((i + 1) * len(messages) // (len(MALFORMED) + 1), bad)
    consumer = asyncio.create_task(
        collect(
            bootstrap,
            [topics.labels, topics.deadletter, topics.events],
            done,
            timeout_s=1800,
            on_record=on_record,
        )
    )
    await produce(bootstrap, topics.texts, messages)
    got = await consumer
    if tty:
        print()
    return got


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
    worker: subprocess.Popen[bytes] | None = None
    try:
        t0 = time.monotonic()
        _say(f"1/6 starting Kafka (work dir {work})")
        broker, bootstrap = _start_broker(work, args.port)
        from redline.streams.settings import StreamSettings
        from redline.streams.topics import ensure_topics_sync

        created = ensure_topics_sync(StreamSettings(bootstrap=bootstrap))
        _say(
            f"    Kafka answers on {bootstrap} ({time.monotonic() - t0:.0f} s); created {len(created)} topics"
        )
        data = work / "data"
        _say(
            f"2/6 exporting {args.dataset}: {args.seed_per_class} labelled examples per class, "
            "the rest as pool"
        )
        _redline("datasets", "export", "--name", args.dataset, "--seed-per-class", str(args.seed_per_class),
                 "--out", str(data), env=env)  # fmt: skip
        model = work / "model"
        _say("3/6 fitting a model on the seed set (embeddings are cached after the first run)")
        _redline("fit", "--train", str(data / "seed.jsonl"), "--labels", str(data / "labels.jsonl"),
                 "--out", str(model), "--no-progress", env=env)  # fmt: skip
        from redline.adapters.jsonl_files import read_examples
        from redline.broker.ports import find_free_port

        test = read_examples(data / "test.jsonl")
        random.Random(args.seed).shuffle(test)
        run_id = uuid.uuid4().hex[:6]
        texts = [TextIn(id=f"{run_id}-{i}", text=e.text, metadata={"source": args.dataset}) for i, e in
                 enumerate(test[: args.texts])]  # fmt: skip
        truth = {t.id: str(e.label) for t, e in zip(texts, test, strict=False)}
        web_port = find_free_port()
        _say(f"4/6 starting a worker (judge {args.judge}, web port {web_port})")
        worker_cmd = [sys.executable, "-m", "redline", "worker", "--model", str(model),
                      "--bootstrap", bootstrap, "--web-port", str(web_port), "--judge", args.judge,
                      "--judge-truth", str(data / "test.jsonl"), "--app-id", "redline-demo",
                      "--data-dir", str(work / "worker"),
                      "--learn-every", str(LEARN_EVERY)]  # fmt: skip
        if args.threshold is not None:
            worker_cmd += ["--threshold", str(args.threshold)]
        if args.judge_share is not None:
            worker_cmd += ["--judge-share", str(args.judge_share)]
        worker_log = (work / "worker.log").open("wb")
        worker = subprocess.Popen(
            worker_cmd, env=env, stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True
        )
        worker_log.close()  # the child keeps its own descriptor
        seconds = wait_until_ready(worker, web_port, work / "worker.log")
        _say(f"    worker ready in {seconds:.0f} s (model loaded, group joined; log {work / 'worker.log'})")
        topics = TopicNames.with_prefix("redline.")
        _say(
            f"5/6 streaming {len(texts)} {args.dataset} test texts + {len(MALFORMED)} malformed "
            f"to {topics.texts}"
        )
        tally = ResultSummary(truth=truth)
        got = asyncio.run(_stream(bootstrap, topics, texts, tally, worker))
        if worker.poll() is not None:
            tail = (work / "worker.log").read_text(errors="replace").strip().splitlines()[-15:]
            print("\n".join(tail), file=sys.stderr)
            raise RedlineError(
                f"the worker exited early with code {worker.returncode} (log: {work / 'worker.log'})"
            )
        letters = [decode(DeadLetter, r.value) for r in got.records[topics.deadletter]]
        events = [decode(Event, r.value) for r in got.records[topics.events]]
        confirmed = tally.statuses["validated"] + tally.statuses["corrected"]
        if confirmed >= LEARN_EVERY and not any(e.subject == "learn" for e in events):
            _say(f"    waiting for the worker's model update (it learns {LEARN_EVERY} judge-confirmed texts)")
            more = asyncio.run(
                collect(
                    bootstrap,
                    [topics.events],
                    lambda g: any(
                        decode(Event, r.value).subject == "learn" for r in g.records[topics.events]
                    ),
                    timeout_s=180,
                )
            )
            events = [decode(Event, r.value) for r in more.records[topics.events]]
        _say("6/6 done")
        print(_summary(tally, letters, events, len(texts), truth), flush=True)
        (work / "summary.json").write_text(
            json.dumps({**tally.to_dict(), "dead_letters": len(letters), "judge": args.judge}, indent=1)
            + "\n"
        )
        _say(f"summary written to {work / 'summary.json'}")
        return 0 if tally.count == len(texts) else 1
    except KeyboardInterrupt:
        _say("interrupted; shutting down")
        return 130
    except RedlineError as exc:
        print(f"redline demo: error: {exc}", file=sys.stderr)
        return 1
    finally:
        _say("stopping the worker and Kafka")
        stop_worker(worker)
        if broker is not None:
            broker.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the demo."""
    p = argparse.ArgumentParser(prog="python -m redline.commands.demo", description=__doc__.split("\n")[0])
    p.add_argument("--texts", type=int, default=500, help="test texts to stream (500)")
    p.add_argument("--dataset", default="clinc150", choices=("clinc150", "banking77"))
    p.add_argument("--seed-per-class", type=int, default=30, help="labelled examples per class (30)")
    p.add_argument("--judge", default="simulated:0.95", help="judge spec (simulated:0.95)")
    p.add_argument("--judge-share", type=float, default=None, help="share of texts judged (default 0.2)")
    p.add_argument("--threshold", type=float, default=None, help="fixed judge threshold (overrides)")
    p.add_argument("--port", type=int, default=19092, help="Kafka port (19092, or a free one if taken)")
    p.add_argument("--seed", type=int, default=0, help="which test texts are streamed (0)")
    p.add_argument("--work-dir", default=".redline/demo", help="where the demo keeps Kafka, data and model")
    args = p.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
