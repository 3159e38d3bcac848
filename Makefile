# redline: the two commands that matter are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
PYTEST_ARGS ?=

.PHONY: help venv install kafka-jars embedder-export llm-server-deps lint test test-unit test-faults test-kafka-compat demo bench-stream bench-memory bench-engine bench-structure clean

help:
	@echo "make demo   - set everything up, start Kafka, stream a real data set through, show results"
	@echo "make test   - set everything up and run lint + the whole test suite (real Kafka included)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

venv install: $(STAMP)

kafka-jars: $(STAMP)
	$(BIN)/redline kafka fetch

# the packaged embedding model as ONNX (fp32 + int8) in ~/.cache/redline/onnx (or REDLINE_CACHE_DIR), for
# REDLINE_EMBED_BACKEND=onnx / onnx-int8; exported locally from the installed weights, nothing downloaded
embedder-export: $(STAMP)
	$(BIN)/redline embedder export

# llama.cpp server + SmolLM2-135M for the live judge tests; built once into ~/.cache/redline (or REDLINE_CACHE_DIR)
llm-server-deps: $(STAMP)
	$(BIN)/python -m redline.testing.llm_server deps

lint: $(STAMP)
	$(BIN)/ruff check redline tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(STAMP) kafka-jars embedder-export llm-server-deps lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The Kafka-facing integration tests once more on the other release CI tests (`make test` runs the
# default, redline.broker.KAFKA_VERSION): the broker, kcat, Faust, SASL/TLS clients, the stream CLI, the worker.
KAFKA_COMPAT_VERSION ?= 3.9.1
KAFKA_TESTS := tests/broker tests/commands/test_kafka_cli.py tests/commands/test_stream_cli.py \
	tests/streams/test_worker_integration.py

test-kafka-compat: $(STAMP)
	$(BIN)/redline kafka fetch --kafka-version $(KAFKA_COMPAT_VERSION)
	REDLINE_TEST_KAFKA_VERSION=$(KAFKA_COMPAT_VERSION) $(BIN)/python -m pytest -q $(PYTEST_ARGS) $(KAFKA_TESTS)

# Fault scenarios on the real broker (tests/faults): a worker SIGKILLed mid-stream, the broker restarted,
# the judge down for 30 s, a judge 10x slower, garbage on the texts and control topics. Each writes its
# figures into benchmarks/results/faults.json. `make test` runs only the cheap ones (marked integration).
test-faults: $(STAMP) kafka-jars embedder-export
	$(BIN)/python -m pytest -q -m faults $(PYTEST_ARGS) tests/faults

test-unit: $(STAMP) embedder-export
	$(BIN)/python -m pytest -q -m "not integration" $(PYTEST_ARGS)

demo: $(STAMP) kafka-jars embedder-export
	$(BIN)/python -m redline.commands.demo

# the stream against its own embedder: ratio, latency at half rate, ready time, memory; 150 and 1000 labels
bench-stream: $(STAMP) kafka-jars embedder-export
	$(BIN)/python benchmarks/bench_stream.py --profile

# memory over a long run: the defaults at 150 and 1000 labels, 20,000 texts in one burst (~20 min)
bench-memory: $(STAMP) kafka-jars embedder-export
	$(BIN)/python benchmarks/bench_stream.py --n 20000 --latency-n 100 --configs 2 --out benchmarks/results/stream-memory.json

bench-engine: $(STAMP)
	$(BIN)/python benchmarks/bench_engine.py

bench-structure: $(STAMP)
	$(BIN)/python benchmarks/bench_structure.py

clean:
	-$(BIN)/redline kafka stop 2>/dev/null
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info .redline
