"""Benchmarks: they measure and print figures; they are not tests (pytest skips them)."""
