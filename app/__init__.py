"""The Faust app: settings, topics, records, web views and CLI commands."""

__version__ = "0.1.0"
