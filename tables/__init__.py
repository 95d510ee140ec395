"""Faust table definitions (RocksDB-backed, changelog topics)."""
