"""smsrelay's benchmark: `uv run python -m bench all [--quick]`; see docs/benchmarks.md."""
