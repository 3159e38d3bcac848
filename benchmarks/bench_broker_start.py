"""How long the local broker takes to become usable, per Kafka release and listener set.

For each release (default: every one in ``TESTED_KAFKA_VERSIONS``) and each ``--runs``, in a new
data dir: ``first_start_s`` (format the storage, launch the JVM, wait until a Metadata request lists
the broker, as ``redline kafka start`` does), ``stop_s`` (SIGTERM until the JVM is gone) and
``restart_s`` (the same data dir again: no format). ``--secured`` adds the SASL_PLAINTEXT (three
mechanisms, SCRAM users written at format time) and SSL listeners of the test session's secured broker;
the throwaway CA is made before the clock starts (``certs_s`` reports that). Jars must be cached
(``redline kafka fetch --kafka-version X``). Reports medians and every sample. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from redline.broker import BrokerSettings, LocalKafkaBroker
from redline.broker.ports import find_free_port
from redline.broker.settings import TESTED_KAFKA_VERSIONS
from redline.testing.kafka_brokers import secured_broker_settings


def _settings(root: Path, version: str, secured: bool) -> tuple[BrokerSettings, float]:
    if not secured:
        return BrokerSettings(data_dir=root / "data", port=find_free_port(), kafka_version=version), 0.0
    started = time.perf_counter()
    settings, _ = secured_broker_settings(root, version)
    return settings, time.perf_counter() - started


def _one_run(version: str, secured: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-kafka-") as folder:
        settings, certs_s = _settings(Path(folder), version, secured)
        broker = LocalKafkaBroker(settings, log=lambda _line: None, die_with_parent=True)
        broker.fetch()  # cached jars: not part of any timing
        sample = {"certs_s": certs_s}
        for label, action in (("first_start_s", broker.start), ("stop_s", broker.stop),
                              ("restart_s", broker.start), ("final_stop_s", broker.stop)):  # fmt: skip
            started = time.perf_counter()
            action()
            sample[label] = time.perf_counter() - started
        return sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", nargs="+", default=list(TESTED_KAFKA_VERSIONS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--secured", action="store_true", help="add the SASL_PLAINTEXT and SSL listeners")
    args = parser.parse_args()
    samples: dict[str, list[dict[str, float]]] = {v: [] for v in args.versions}
    for _ in range(args.runs):  # interleaved: drift on a shared machine hits every release alike
        for version in args.versions:
            samples[version].append(_one_run(version, args.secured))
    report = {
        "runs": args.runs,
        "secured": args.secured,
        "versions": {
            version: {
                "median": {
                    key: round(statistics.median(s[key] for s in runs), 2)
                    for key in runs[0]
                    if key != "certs_s"
                }
                | (
                    {"certs_s": round(statistics.median(s["certs_s"] for s in runs), 2)}
                    if args.secured
                    else {}
                ),
                "samples": [{k: round(v, 2) for k, v in s.items()} for s in runs],
            }
            for version, runs in samples.items()
        },
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
