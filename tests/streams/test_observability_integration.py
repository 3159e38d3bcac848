"""A real worker scraped by a real Prometheus server, and ``redline status`` against the same deployment.

The worker (real broker, real MiniLM embeddings, a simulated judge) labels a few texts and some
malformed messages; Prometheus (the Debian ``prometheus`` binary; skipped without it) scrapes the
worker's ``/metrics`` every second, and its HTTP API must report as many results per status as
``<prefix>labels`` holds. ``redline status --json`` must then see the worker in the consumer group,
no lag on the texts topic, the model on the models topic and the dead letters of the last hour. The
worker runs with ``--log-json``: each of its log lines must be one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from worker_processes import Fitted, fit_folder, log_tail, start_worker, stop, wait_for

from redline.broker.ports import find_free_port
from redline.schemas import LabelResult, TextIn, decode
from redline.streams.clients import collect, produce, text_messages
from redline.streams.settings import TopicNames

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

PROMETHEUS = shutil.which("prometheus")
MALFORMED = [(b"bad-json", b'{"id": "bad-json", "text": '), (b"no-text", b'{"id": "no-text"}')]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    """A real model fitted on a small CLINC150 seed set of 4 labels."""
    return fit_folder(tmp_path_factory.mktemp("fitted"), n_classes=4)


def _start_prometheus(tmp: Path, target_port: int) -> tuple[subprocess.Popen[bytes], int]:
    port = find_free_port()
    config = tmp / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: redline\n    metrics_path: /metrics\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
    )
    log = (tmp / "prometheus.log").open("ab")
    proc = subprocess.Popen(
        [str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    return proc, port


def _query(port: int, query: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _results_by_status(port: int) -> dict[str, float]:
    return {s["metric"]["status"]: float(s["value"][1]) for s in _query(port, "redline_results_total")}


def test_prometheus_scrapes_the_worker_and_status_summarises_it(kafka_bootstrap, fitted, tmp_path) -> None:
    if PROMETHEUS is None:
        pytest.skip("the prometheus binary is not installed (Debian package prometheus)")
    run = uuid.uuid4().hex[:8]
    prefix = f"obs{run}."
    app_id = f"redline-obs-{run}"
    topics = TopicNames.with_prefix(prefix)
    texts = [TextIn(id=f"{run}-{i}", text=e.text) for i, e in enumerate(fitted.test[:12])]
    worker = start_worker(fitted, kafka_bootstrap, prefix, app_id, tmp_path, "worker", "--log-json")
    prometheus = None
    try:
        wait_for(worker, lambda s: s["ready"], timeout_s=300)
        messages: list[tuple[bytes | None, bytes | None]] = [*text_messages(texts), *MALFORMED]
        assert asyncio.run(produce(kafka_bootstrap, topics.texts, messages)) == len(messages)
        ids = {t.id.encode() for t in texts}
        got = asyncio.run(
            collect(
                kafka_bootstrap,
                [topics.labels, topics.deadletter],
                lambda g: (
                    ids <= {r.key for r in g.records[topics.labels]}
                    and g.count(topics.deadletter) >= len(MALFORMED)
                ),
                timeout_s=300,
            )
        )
        statuses = Counter(decode(LabelResult, r.value).status for r in got.records[topics.labels])
        assert sum(statuses.values()) == len(texts), log_tail(worker)

        prometheus, port = _start_prometheus(tmp_path, worker.web_port)  # type: ignore[attr-defined]
        deadline, seen = time.monotonic() + 120, {}
        while time.monotonic() < deadline and prometheus.poll() is None:
            try:
                seen = _results_by_status(port)
            except OSError:  # not listening yet
                seen = {}
            if sum(seen.values()) == len(texts):
                break
            time.sleep(1.0)
        prometheus_log = (tmp_path / "prometheus.log").read_text(errors="replace")[-2000:]
        assert sum(seen.values()) == len(texts), (seen, prometheus_log)
        assert {k: v for k, v in seen.items() if v} == dict(statuses)
        dead = sum(float(s["value"][1]) for s in _query(port, "redline_dead_letters_total"))
        assert dead == len(MALFORMED)
        assert float(_query(port, "redline_texts_total")[0]["value"][1]) == len(texts) + len(MALFORMED)
        latency = _query(port, "redline_label_latency_seconds_count")
        assert float(latency[0]["value"][1]) == len(texts)
        assert float(_query(port, "redline_leader")[0]["value"][1]) == 1.0
        lag = _query(port, f'redline_consumer_lag{{topic="{topics.texts}"}}')
        assert lag and all(float(s["value"][1]) == 0 for s in lag), lag

        status = subprocess.run(
            [sys.executable, "-m", "redline", "status", "--bootstrap", kafka_bootstrap,
             "--topic-prefix", prefix, "--app-id", app_id, "--json"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        summary = json.loads(status.stdout)
        assert len(summary["group"]["members"]) == 1, summary
        texts_lag = [p for p in summary["group"]["lag"] if p["topic"] == topics.texts]
        assert texts_lag and sum(p["lag"] for p in texts_lag) == 0, summary
        assert sum(p["end"] for p in texts_lag) == len(texts) + len(MALFORMED)
        assert summary["model"]["version"] == wait_for(worker, lambda s: True)["model_version"]
        assert summary["last_hour"]["dead_letters"] == len(MALFORMED)
        assert summary["last_hour"]["drift_events"] == summary["last_hour"]["rejected_events"] == 0
        assert summary["judge_policy"] is not None

        human = subprocess.run(
            [sys.executable, "-m", "redline", "status", "--bootstrap", kafka_bootstrap,
             "--topic-prefix", prefix, "--app-id", app_id],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert human.returncode == 0 and app_id in human.stdout and "dead letters" in human.stdout
    finally:
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait(timeout=30)
        assert stop(worker) == 0, log_tail(worker)
    # --log-json: every log line is one JSON object (the "redline worker:" lines are its own prints)
    lines = [line for line in (tmp_path / "worker.log").read_text().splitlines() if line.strip()]
    logged = [json.loads(line) for line in lines if not line.startswith("redline worker:")]
    assert logged and all({"time", "level", "logger", "message"} <= set(entry) for entry in logged), lines
    assert any(
        e["logger"] == "redline.streams.leader" and e["message"].startswith("leading from") for e in logged
    )
