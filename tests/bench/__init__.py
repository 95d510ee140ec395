"""Tests of the benchmark harness (smoke only: a benchmark is never a timed test)."""
