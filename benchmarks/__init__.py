"""Runnable benchmarks; figures go to benchmarks/RESULTS.md."""
