"""Real external processes for integration tests and benchmarks (never imported by the engine)."""
