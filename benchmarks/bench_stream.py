"""Stream speed: a real worker on a real broker against its own embedder, latency, readiness, memory.

For each case (CLINC150 with its 150 labels; 1000 synthetic labels, see ``stream_setup``) and each
worker configuration, one fresh ``redline worker`` (own topics and consumer group) is started with the
case's model folder, and:

1. *ready*: seconds from starting the process to its ``/redline/ready/`` page answering 200; then the
   first text's produce-to-label latency; both again for a restart of the worker at the end (the
   first start publishes ``--model``, the restart reads the model from the topic);
2. *burst*: N texts produced at once (by kcat where it is installed: ``load_generator.py``);
   end-to-end texts/s = N / (last result - first send). The same texts embedded by the same model in
   this process, right before the stream run and right after it, once the worker has been idle for 3 s
   (it learns what it deferred during the burst: the same idle machine on both sides), give the ratio
   stream / embedding alone (against the mean of both);
3. *latency*: texts produced at half the burst rate, each one's produce-to-label latency (send time to
   arrival of its result here, one clock), split into accepted (model alone) and judged texts;
4. *memory*: the worker's resident memory sampled every 0.5 s (max, and median of the second half);
5. *idle*: the cores the worker and the broker use with nothing to do (``--idle-s`` before the burst).

Before the first configuration, an unmeasured burst (``--warm-up``, 1,000 texts) through a worker with the
defaults warms the broker's JIT (:func:`warm_pipeline`): a broker of a running deployment is warm.

``--profile`` records a py-spy flame graph of each worker during a second burst of the same texts right
after the measured one, not counted (SVG into ``benchmarks/results/profiles/``): a sampler slows the
worker it samples, and only that side of the ratio. The load average is recorded: other work on the
machine slows both sides of the ratio alike, not the ratio. Prints JSON, writes
``benchmarks/results/stream.json`` and a plot ``stream.png``.

Usage: ``python benchmarks/bench_stream.py [--n 2000] [--latency-n 600] [--cases clinc150,synthetic1000]
[--profile]`` (``make bench-stream``)
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_generator import default_kind, stream
from stream_setup import (
    RssSampler,
    StreamCase,
    clinc150_case,
    cpu_seconds,
    embedding_rate,
    load,
    percentiles,
    py_spy,
    synthetic_case,
)

RESULTS = Path(__file__).resolve().parent / "results"
# how often the ready page is asked while a worker starts: every 0.5 s (the demo's) rounded each ready
# time up by 0.25 s on average and by up to 0.5 s
READY_POLL_S = 0.05
JUDGE = ["--judge", "simulated:0.95"]
CONFIGS: dict[str, list[str]] = {
    "classify only (judge none, learning off)": ["--judge", "none", "--learn-every", "0"],
    "judge share 0.2, learning off": [*JUDGE, "--learn-every", "0"],
    "defaults (judge share 0.2, learning on)": JUDGE,
}
_NAMES = list(CONFIGS)
PER_CASE = {"clinc150": _NAMES, "synthetic1000": [_NAMES[0], _NAMES[2]]}


def _cpu_now(pids: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds each process of ``pids`` has used so far (0 for one without a pid); this process's
    include its finished children (the load generator's kcat processes)."""
    return {k: cpu_seconds(pid, children=pid == os.getpid()) if pid else 0.0 for k, pid in pids.items()}


def _cpu_since(pids: dict[str, int | None], before: dict[str, float]) -> dict[str, float]:
    """CPU seconds each process of ``pids`` has used since ``before`` (a :func:`_cpu_now`)."""
    return {k: v - before[k] for k, v in _cpu_now(pids).items()}


def _idle_cores(pids: dict[str, int | None], seconds: float) -> dict[str, float]:
    """Cores each process of ``pids`` used over ``seconds`` of doing nothing (empty when 0)."""
    if seconds <= 0:
        return {}
    before = _cpu_now(pids)
    time.sleep(seconds)
    return {k: round(v / seconds, 3) for k, v in _cpu_since(pids, before).items()}


def _start_worker(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **env},
        )  # fmt: skip


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def _machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (every process and the kernel; /proc/stat)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait


def _wait_quiet(pid: int, quiet_s: float = 3.0, below_cores: float = 0.1, limit_s: float = 60.0) -> float:
    """Wait until process ``pid`` has used less than ``below_cores`` for ``quiet_s`` in a row (at most
    ``limit_s``); the seconds waited. A burst's deferred learning step starts once the classify path has
    been idle for a second, and the step takes a second or more of CPU at 150 labels: an embedding alone
    measured meanwhile ran 15-20 % slower (565 against 671 texts/s; the worker used 1.4 s of CPU during
    it), which raised the ratio."""
    started = time.monotonic()
    window, quiet = 0.5, 0.0
    while quiet < quiet_s and time.monotonic() - started < limit_s:
        before = cpu_seconds(pid)
        time.sleep(window)
        quiet = quiet + window if cpu_seconds(pid) - before < below_cores * window else 0.0
    return time.monotonic() - started


def warm_broker(bootstrap: str, n: int = 20_000) -> float:
    """Produce and read back ``n`` small records on a throw-away topic, so that the broker's JIT
    compilation (10 % of both cores during the first burst, perf) is not charged to the first worker."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    async def run() -> float:
        started = time.monotonic()
        topic = f"bench-warm-up-{uuid.uuid4().hex[:6]}"
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        await producer.start()
        try:
            sent = [await producer.send(topic, b"x" * 300, key=str(k).encode()) for k in range(n)]
            await asyncio.gather(*sent)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        try:
            seen = 0
            while seen < n:
                batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
                seen += sum(len(records) for records in batches.values())
        finally:
            await consumer.stop()
        return time.monotonic() - started

    return asyncio.run(run())


def _worker_command(
    case: StreamCase,
    bootstrap: str,
    port: int,
    prefix: str,
    app_id: str,
    data_dir: Path,
    flags: list[str],
    extra: list[str] | None = None,
) -> list[str]:
    """``redline worker`` on the case's model with its own topics, group and folder; a judging
    configuration's simulated expert reads the case's truth."""
    truth = ["--judge-truth", str(case.truth_file)] if "--judge" in flags and "none" not in flags else []
    return [
        sys.executable, "-m", "redline", "worker", "--model", str(case.model_dir),
        "--bootstrap", bootstrap, "--web-port", str(port), "--topic-prefix", prefix,
        "--app-id", app_id, "--data-dir", str(data_dir), *truth, *flags, *(extra or []),
    ]  # fmt: skip


def warm_pipeline(
    case: StreamCase, bootstrap: str, work: Path, n: int, broker_pid: int | None, load_generator: str
) -> dict[str, Any]:
    """One unmeasured burst of ``n`` texts through a worker with the defaults (judge, learning), on topics
    of its own, so that the configurations are measured against a broker whose JIT has compiled the
    paths a worker uses (produce to many topics, compacted topics, fetches of several consumers, offset
    commits). A broker of a running deployment is warm; the small records of :func:`warm_broker` alone
    left it compiling during the first measured bursts: the same configuration three times in a row on
    one broker took 15.0, 8.9 and 6.0 s of broker CPU, 85, 96 and 94 texts/s."""
    from redline.broker.ports import find_free_port
    from redline.commands.demo import wait_until_ready
    from redline.streams.settings import TopicNames

    run = uuid.uuid4().hex[:6]
    topics = TopicNames.with_prefix(f"benchwarm{run}.")
    port = find_free_port()
    command = _worker_command(
        case, bootstrap, port, f"benchwarm{run}.", f"bench-warm-{run}", work / f"data-warm-{run}", JUDGE
    )
    log = work / f"worker-warm-{run}.log"
    started = time.monotonic()
    cpu_start = cpu_seconds(broker_pid) if broker_pid else 0.0
    proc = _start_worker(command, log, {})
    try:
        wait_until_ready(proc, port, log)
        burst = [(f"{run}-w{k}", case.texts[k % len(case.texts)]) for k in range(n)]
        done = asyncio.run(stream(load_generator, bootstrap, topics, burst, None, 900))
    finally:
        _stop(proc)
    return {
        "texts": n,
        "results": len(done["arrived"]),
        "seconds": round(time.monotonic() - started, 1),
        "broker_cpu_s": round((cpu_seconds(broker_pid) if broker_pid else 0.0) - cpu_start, 1),
    }


def _latency(run: dict[str, Any]) -> dict[str, Any]:
    accepted, judged = [], []
    for i, t in run["arrived"].items():
        (judged if run["results"][i].judge is not None else accepted).append(t - run["sent"][i])
    return {"accepted": percentiles(accepted), "judged": percentiles(judged)}


def _work_during(run: dict[str, Any], work: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The model work (the stats page's ``model_work``, wall times) that overlapped ``run``, from its
    first send to its last result, in seconds since the first send."""
    start = min(run["sent"].values())
    end = max(run["arrived"].values(), default=start)
    return [
        {k: v for k, v in w.items() if k != "at"}
        | {"from_s": round(w["at"] - start, 2), "to_s": round(w["at"] + w["seconds"] - start, 2)}
        for w in work
        if w["at"] < end and w["at"] + w["seconds"] > start
    ]


def _half_rate_timeline(run: dict[str, Any], work: list[dict[str, Any]]) -> dict[str, Any]:
    """The half-rate phase against the worker's model work (its stats page's ``model_work``, wall
    times): the work that overlapped the phase and the slowest accepted texts, both in seconds since
    the phase's first send, each text marked with the work that ran while it waited (work still under
    way when the page was read is marked ``running`` and spans until then)."""
    start = min(run["sent"].values())
    spans = _work_during(run, work)
    accepted = [
        (run["arrived"][i] - run["sent"][i], run["sent"][i] - start, run["arrived"][i] - start)
        for i in run["arrived"]
        if run["results"][i].judge is None
    ]
    slowest = [
        {
            "sent_s": round(sent, 2),
            "latency_ms": round(wait * 1000),
            "during": sorted({w["kind"] for w in spans if w["from_s"] < arrived and w["to_s"] > sent}),
        }
        for wait, sent, arrived in sorted(accepted, reverse=True)[:10]
    ]
    return {"model_work": spans, "slowest_accepted": slowest}


def run_config(
    case: StreamCase,
    name: str,
    bootstrap: str,
    work: Path,
    embedder: Any,
    args: argparse.Namespace,
    broker_pid: int | None = None,
) -> dict[str, Any]:
    """One fresh worker of configuration ``name`` on ``case``: ready, burst, latency, memory."""
    from redline.broker.ports import find_free_port
    from redline.commands.demo import stats_page, wait_until_ready
    from redline.streams.settings import TopicNames

    run = uuid.uuid4().hex[:6]
    prefix = f"bench{run}."
    topics = TopicNames.with_prefix(prefix)
    flags = CONFIGS[name]
    # more texts than the case has (the 20,000-text memory run): the case's texts again, in order
    burst = [(f"{run}-b{k}", case.texts[k % len(case.texts)]) for k in range(args.n)]
    rest = case.texts[args.n :] or case.texts
    paced = [(f"{run}-l{k}", rest[k % len(rest)]) for k in range(args.latency_n)]
    texts = [t for _, t in burst]
    embed_before, embed_cpu_before = embedding_rate(embedder, texts)
    port = find_free_port()
    log = (args.log_dir or work) / f"worker-{case.name}-{run}.log"
    load_start = load()
    command = _worker_command(
        case, bootstrap, port, prefix, f"bench-{run}", work / f"data-{run}", flags, args.worker_args.split()
    )
    worker_env = dict(pair.split("=", 1) for pair in args.worker_env.split())
    started = time.monotonic()
    proc = _start_worker(command, log, worker_env)
    rss = RssSampler(proc.pid).start()
    try:
        wait_until_ready(proc, port, log, poll_s=READY_POLL_S)
        ready_s = time.monotonic() - started  # from starting the process
        first = asyncio.run(
            stream(args.load_generator, bootstrap, topics, [(f"{run}-first", texts[0])], None, 300)
        )
        first_s = first["arrived"][f"{run}-first"] - first["sent"][f"{run}-first"]
        slug = name.split(" (")[0].replace(" ", "_").replace(",", "")
        svg = RESULTS / "profiles" / f"{case.name}-{slug}.svg"
        if args.profile:
            svg.parent.mkdir(parents=True, exist_ok=True)
        pids = {"worker": proc.pid, "broker": broker_pid, "load generator": os.getpid()}
        idle = _idle_cores(pids, args.idle_s)
        cpu_start = _cpu_now(pids)
        b = asyncio.run(stream(args.load_generator, bootstrap, topics, burst, None, 1800))
        cpu_burst = _cpu_since(pids, cpu_start)
        work_in_burst = _work_during(b, stats_page(port).get("model_work") or [])
        burst_s = max(b["arrived"].values()) - min(b["sent"].values())
        end_to_end = len(b["arrived"]) / burst_s
        spy = None
        # the same texts again under py-spy, not measured: the 150-label defaults' ratio was 0.74-0.78 in four
        # make bench-stream runs that sampled the measured burst, 0.77-0.85 in single runs without
        if args.profile:
            _wait_quiet(proc.pid)
            spy = py_spy(proc.pid, burst_s + 2, svg)
            again = [(f"{run}-p{k}", text) for k, (_, text) in enumerate(burst)]
            asyncio.run(stream(args.load_generator, bootstrap, topics, again, None, 1800))
            if spy is not None:
                spy.wait(timeout=120)
        settled_s = _wait_quiet(proc.pid)  # the embedding alone on a machine as idle as before the burst
        during_after, busy = _cpu_now(pids), _machine_busy_s()
        embed_after, embed_cpu_after = embedding_rate(embedder, texts)
        during_after = _cpu_since(pids, during_after)
        during_after["machine"] = _machine_busy_s() - busy
        rate = args.pace or end_to_end / 2
        updates_before = stats_page(port).get("model_updates", 0)
        cpu_start = _cpu_now(pids)
        lat = asyncio.run(stream(args.load_generator, bootstrap, topics, paced, rate, 900))
        cpu_paced = _cpu_since(pids, cpu_start)
        stats = stats_page(port)
    finally:
        _stop(proc)
        memory = rss.stop()
    # a restart: the model is on the topic now (what every worker but the deployment's first one sees)
    restarted = time.monotonic()
    proc = _start_worker(command, log.with_suffix(".restart.log"), worker_env)
    try:
        wait_until_ready(proc, port, log.with_suffix(".restart.log"), poll_s=READY_POLL_S)
        ready_restart_s = time.monotonic() - restarted
        again = asyncio.run(
            stream(args.load_generator, bootstrap, topics, [(f"{run}-again", texts[1])], None, 300)
        )
        again_s = again["arrived"][f"{run}-again"] - again["sent"][f"{run}-again"]
    finally:
        _stop(proc)
    embed = (embed_before + embed_after) / 2
    embed_cpu = (embed_cpu_before + embed_cpu_after) / 2
    statuses: dict[str, int] = {}
    for r in b["results"].values():
        statuses[r.status] = statuses.get(r.status, 0) + 1
    # when the last result of each kind arrived (s after the first send): judged results far behind the
    # model's ones mean the judge loop, not classification, set the end-to-end rate
    first_sent = min(b["sent"].values())
    finished: dict[str, float] = {}
    for text_id, r in b["results"].items():
        kind = "judged" if r.judge is not None else "model alone"
        finished[kind] = max(finished.get(kind, 0.0), b["arrived"][text_id] - first_sent)
    out = {
        "texts": len(burst),
        "results": len(b["arrived"]),
        "end_to_end_per_s": round(end_to_end, 1),
        "embedding_alone_per_s": round(embed, 1),
        "embedding_alone_before_after_per_s": [round(embed_before, 1), round(embed_after, 1)],
        "ratio_to_embedding": round(end_to_end / embed, 3),
        "worker_settled_after_burst_s": round(settled_s, 1),
        "cpu_seconds_during_embedding_after": {k: round(v, 2) for k, v in during_after.items()},
        # the same machine also runs the broker and the load generator during the burst (not during the
        # embedding alone): CPU per text of the worker itself against the embedder alone
        "cpu_seconds_during_burst": {k: round(v, 1) for k, v in cpu_burst.items()},
        # learning steps, publishes and reloads that overlapped the burst (a deferred step waits for a
        # short batch; one that ran there took its CPU from the burst's rate)
        "model_work_in_burst": work_in_burst,
        "worker_cpu_ms_per_text": round(cpu_burst["worker"] * 1000 / len(burst), 2),
        "embedding_cpu_ms_per_text": round(embed_cpu, 2),
        "embedding_cpu_ms_per_text_before_after": [round(embed_cpu_before, 2), round(embed_cpu_after, 2)],
        "cpu_ratio_to_embedding": round(embed_cpu / (cpu_burst["worker"] * 1000 / len(burst)), 3),
        # cores the worker and the broker use with nothing to do, over --idle-s before the burst: what
        # every text pays for beside the embedder on a shared machine (readers asking for new records)
        "idle_cores": idle,
        "judged_share": round(sum(r.judge is not None for r in b["results"].values()) / len(burst), 3),
        "statuses": statuses,
        "last_result_s": {k: round(v, 2) for k, v in sorted(finished.items())},
        # start to /redline/ready/ = 200: the deployment's first worker publishes --model first; a
        # restart (any later worker) reads the model from the topic
        "ready_s": {"first_start_publishing": round(ready_s, 1), "restart": round(ready_restart_s, 1)},
        "first_text_latency_ms": {
            "first_start": round(first_s * 1000, 1),
            "restart": round(again_s * 1000, 1),
        },
        "latency_at_half_rate": {"rate_per_s": round(rate, 1), **_latency(lat)},
        # a paced stream makes small batches: what each text costs each process then (the burst's
        # worker_cpu_ms_per_text is the same worker at full batches)
        "cpu_ms_per_text_at_half_rate": {k: round(v * 1000 / len(paced), 2) for k, v in cpu_paced.items()},
        # learning steps that ended during the half-rate phase (a step's CPU there raises its latency);
        # the timeline shows every step, publish and reload that overlapped it
        "model_updates_at_half_rate": (stats.get("model_updates", 0) or 0) - (updates_before or 0),
        "half_rate_timeline": _half_rate_timeline(lat, stats.get("model_work") or []),
        "rss": memory,
        "worker_stats": {
            k: stats.get(k)
            for k in ("routing", "learned", "model_updates", "reloads", "examples", "judge")
            if k in stats
        },
        # the leader's drift watch: results read, drift events, examples relearned, labels suggested
        "drift_counts": {k: v for k, v in (stats.get("drift") or {}).items() if isinstance(v, int)},
        "load_average": {"start": load_start, "end": load()},
        "profile": str(svg.relative_to(RESULTS.parent.parent)) if spy is not None else None,
    }
    head = json.dumps({k: out[k] for k in list(out)[:8]})
    print(f"[bench_stream] {case.name} / {name}: {head}", file=sys.stderr)
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    """Ratio to embedding alone, latency percentiles and resident memory over the run, per case and
    configuration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(f"{c}\n{n}", r) for c, runs in result["cases"].items() for n, r in runs.items()]
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(19, 0.9 * len(rows) + 2.5))
    names = [n for n, _ in rows]
    a.barh(names, [r["ratio_to_embedding"] for _, r in rows], color="tab:blue")
    a.axvline(0.8, color="tab:red", ls="--", label="target 0.8")
    a.set_xlabel("end-to-end texts/s ÷ embedding alone (same run)")
    a.legend()
    a.invert_yaxis()
    for kind, colour in (("accepted", "tab:green"), ("judged", "tab:orange")):
        p50 = [r["latency_at_half_rate"][kind]["p50_ms"] or 0 for _, r in rows]
        p99 = [r["latency_at_half_rate"][kind]["p99_ms"] or 0 for _, r in rows]
        b.scatter(p50, names, color=colour, marker="o", label=f"{kind} p50")
        b.scatter(p99, names, color=colour, marker="x", label=f"{kind} p99")
    b.axvline(500, color="tab:red", ls="--", label="p99 target 500 ms")
    b.set_xscale("log")
    b.set_xlabel("produce-to-label latency at half the burst rate (ms)")
    b.set_yticks([])
    b.invert_yaxis()
    b.legend(fontsize=7)
    for name, r in rows:
        series = r["rss"].get("series") or []
        c.plot([t for t, _ in series], [v for _, v in series], label=name.replace("\n", " / "))
    c.set_xlabel("seconds since the worker started (burst, half rate; the restart not included)")
    c.set_ylabel("worker resident memory (MiB)")
    c.legend(fontsize=6)
    fig.suptitle(f"redline stream on {result['cpus']} CPUs (load {result['load_average_before']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="texts in each burst")
    parser.add_argument("--latency-n", type=int, default=600, help="texts sent at half rate")
    parser.add_argument(
        "--pace",
        type=float,
        default=None,
        help="texts/s of the latency run instead of half the burst's rate (compares runs at one rate)",
    )
    parser.add_argument("--cases", default="clinc150,synthetic1000")
    parser.add_argument("--configs", default="", help="comma-separated indexes into CONFIGS (default all)")
    parser.add_argument("--profile", action="store_true", help="py-spy flame graphs of each burst")
    parser.add_argument(
        "--warm-up",
        type=int,
        default=1000,
        help="texts of an unmeasured burst that warms the broker first (0: none)",
    )
    parser.add_argument(
        "--idle-s", type=float, default=10.0, help="seconds the idle worker's and broker's CPU is measured"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "stream.json")
    parser.add_argument("--worker-args", default="", help="extra flags for every worker")
    parser.add_argument(
        "--worker-env", default="", help="KEY=VALUE pairs for every worker only (not the embedding alone)"
    )
    parser.add_argument("--log-dir", type=Path, default=None, help="keep the workers' logs here")
    parser.add_argument(
        "--load-generator",
        choices=("kcat", "python"),
        default=default_kind(),
        help="who produces the texts and reads the results (load_generator.py; default kcat where it is "
        "on the PATH, else python)",
    )
    args = parser.parse_args()
    if args.log_dir:
        args.log_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from redline.adapters.embedder import EmbeddingSettings
    from redline.broker import BrokerSettings, LocalKafkaBroker
    from redline.broker.ports import find_free_port

    picked = {list(CONFIGS)[int(i)] for i in args.configs.split(",")} if args.configs else set(CONFIGS)
    result: dict[str, Any] = {
        "benchmark": "stream",
        "cpus": os.cpu_count(),
        "load_average_before": load(),
        "load_generator": args.load_generator,
    }
    embedder = EmbeddingSettings.from_env(cache=False).build()
    embedder.encode(["warm up"])
    result["embedder"] = embedder.model_id
    result["cases"] = {}
    with tempfile.TemporaryDirectory(prefix="redline-bench-stream-") as tmp:
        work = Path(tmp)
        broker = LocalKafkaBroker(
            BrokerSettings(data_dir=work / "kafka", port=find_free_port()), log=lambda _: None
        )
        bootstrap = broker.start()
        broker_pid = broker.status().pid
        try:
            result["broker_warm_up_s"] = round(warm_broker(bootstrap), 1)
            for case_name in args.cases.split(","):
                case = (
                    clinc150_case(work, embedder)
                    if case_name == "clinc150"
                    else synthetic_case(work, embedder, int(case_name.removeprefix("synthetic")))
                )
                if args.warm_up and "pipeline_warm_up" not in result:
                    result["pipeline_warm_up"] = warm_pipeline(
                        case, bootstrap, work, args.warm_up, broker_pid, args.load_generator
                    )
                runs = {}
                for name in PER_CASE.get(case_name, list(CONFIGS)):
                    if name in picked:
                        runs[name] = run_config(case, name, bootstrap, work, embedder, args, broker_pid)
                result["cases"][f"{case.name} ({case.n_classes} labels)"] = runs
        finally:
            broker.stop()
    result["load_average_after"] = load()
    text = json.dumps(result, indent=1)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    plot(result, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
