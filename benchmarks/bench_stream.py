"""Stream throughput: texts through a real broker and worker, with and without the judge loop.

Starts a local Kafka broker, fits a model on the CLINC150 seed set (30 per class), and for each
configuration runs a fresh ``redline worker`` (own consumer group and topic prefix), produces the same
N test texts in one burst and reads ``<prefix>labels`` until every id has its result. Also embeds the
same texts directly in this process, so the stream's cost can be read as a ratio to embedding alone.

Prints one JSON object and writes it to ``benchmarks/results/stream.json``. Timings are from one run on
this machine; the load average says how busy it was (other work shares the 2 cores).

Usage: ``python benchmarks/bench_stream.py [--n 1000] [--port 0]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CONFIGS = {
    "classify only (judge none)": ["--judge", "none", "--learn-every", "0"],
    "judge loop, fixed threshold 0.2 (before the budget)": [
        "--judge", "simulated:0.95", "--learn-every", "0", "--threshold", "0.2",
    ],
    "judge loop, judge share 0.2 (default)": ["--judge", "simulated:0.95", "--learn-every", "0"],
    "judge loop, judge share 0.1": [
        "--judge", "simulated:0.95", "--learn-every", "0", "--judge-share", "0.1",
    ],
    "judge loop + learning (every 64), judge share 0.2": [
        "--judge", "simulated:0.95", "--learn-every", "64",
    ],
}  # fmt: skip


def _fit(work: Path, embedder) -> tuple[Path, Path, list]:
    from redline.adapters.bundled_datasets import load_dataset, split_dataset
    from redline.adapters.jsonl_files import write_examples
    from redline.adapters.snapshot_store import FileSnapshotStore, Snapshot
    from redline.core.classifier import RedClassifier
    from redline.core.config import EngineConfig

    split = split_dataset(load_dataset("clinc150"), seed_per_class=30, seed=0)
    texts = [e.text for e in split.seed]
    from redline.core.judge_budget import held_out_uncertainty, uncertainty_quantiles

    X, y = embedder.encode(texts), [str(e.label) for e in split.seed]
    model = RedClassifier(EngineConfig()).fit(X, texts, y, split.descriptions)
    # as `redline fit` does: held-out uncertainty quantiles warm-start the worker's judge budget
    held_out = held_out_uncertainty(lambda: RedClassifier(EngineConfig()), X, texts, y, "margin")
    meta = {
        "kind": "redline.RedClassifier",
        "embedder": embedder.model_id,
        "uncertainty_quantiles": uncertainty_quantiles(held_out),
    }
    FileSnapshotStore(work / "model").save("", Snapshot(model.to_state(), meta))
    write_examples(work / "test.jsonl", split.test)
    return work / "model", work / "test.jsonl", list(split.test)


def _routing_stats(port: int) -> dict:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/redline/stats/", timeout=10) as page:
            return json.loads(page.read())["routing"]
    except Exception as exc:  # the numbers from the results still stand
        return {"error": repr(exc)}


def _run_config(
    name: str, extra: list[str], bootstrap: str, work: Path, model: Path, truth: Path, test: list
):
    from redline.broker.ports import find_free_port
    from redline.commands.demo import stop_worker, wait_until_ready
    from redline.schemas import LabelResult, TextIn, decode
    from redline.streams.clients import collect, produce, text_messages
    from redline.streams.result_summary import ResultSummary
    from redline.streams.settings import TopicNames

    run = uuid.uuid4().hex[:6]
    prefix = f"bench{run}."
    topics = TopicNames.with_prefix(prefix)
    texts = [TextIn(id=f"{run}-{i}", text=e.text) for i, e in enumerate(test)]
    tally = ResultSummary(truth={t.id: str(e.label) for t, e in zip(texts, test, strict=True)})
    log = work / f"worker-{run}.log"
    web_port = find_free_port()
    judged = 0
    with log.open("wb") as fh:
        worker = subprocess.Popen(
            [sys.executable, "-m", "redline", "worker", "--model", str(model), "--bootstrap", bootstrap,
             "--web-port", str(web_port), "--topic-prefix", prefix, "--app-id", f"bench-{run}",
             "--judge-truth", str(truth), "--data-dir", str(work / f"data-{run}"), *extra],
            stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )  # fmt: skip
    try:
        ready_s = wait_until_ready(worker, web_port, log)

        def on_record(topic, record, got) -> None:
            nonlocal judged
            result = decode(LabelResult, record.value)
            judged += result.judge is not None and result.id not in tally.results
            tally.add(result)

        async def go():
            tally.started = time.monotonic()
            reader = asyncio.create_task(
                collect(
                    bootstrap,
                    [topics.labels],
                    lambda g: tally.count >= len(texts) or worker.poll() is not None,
                    timeout_s=3600,
                    on_record=on_record,
                )
            )
            await produce(bootstrap, topics.texts, text_messages(texts))
            await reader

        asyncio.run(go())
        routing = _routing_stats(web_port)
    finally:
        stop_worker(worker)
    out = tally.to_dict()
    out["judge_share"] = judged / len(texts)  # texts that went to the judge, from their results
    out["routing"] = routing  # the worker's own view, from its /redline/stats/ page
    out["worker_ready_s"] = ready_s
    print(f"{name}: {tally.line(len(texts))}", file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="test texts per configuration")
    parser.add_argument("--out", type=Path, default=RESULTS / "stream.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from redline.adapters.embedder import EmbeddingSettings, SentenceTransformerEmbedder
    from redline.broker import BrokerSettings, LocalKafkaBroker
    from redline.broker.ports import find_free_port

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="redline-bench-stream-") as tmp:
        work = Path(tmp)
        model, truth, test = _fit(work, EmbeddingSettings.from_env().build())
        test = test[: args.n]
        direct = SentenceTransformerEmbedder()
        direct.encode(["warm up"])
        t0 = time.perf_counter()
        direct.encode([e.text for e in test])
        embed_per_s = len(test) / (time.perf_counter() - t0)
        broker = LocalKafkaBroker(
            BrokerSettings(data_dir=work / "kafka", port=find_free_port()), log=lambda _: None
        )
        bootstrap = broker.start()
        try:
            runs = {
                name: _run_config(name, extra, bootstrap, work, model, truth, test)
                for name, extra in CONFIGS.items()
            }
        finally:
            broker.stop()
    result = {
        "benchmark": "stream",
        "texts": len(test),
        "dataset": "clinc150 (seed 30/class, official test split)",
        "embedding_only_per_s": embed_per_s,
        "configs": runs,
        "throughput_ratio_to_embedding": {k: v["throughput_per_s"] / embed_per_s for k, v in runs.items()},
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    text = json.dumps(result, indent=1)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
