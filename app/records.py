"""One Faust record per topic (ticks.raw carries the feed's raw bytes untouched)."""

from __future__ import annotations

import faust


class DeadLetter(faust.Record, serializer="json"):
    """A message the worker could not use, with why; `raw_b64` holds its exact bytes."""

    reason: str
    detail: str
    raw_b64: str
    topic: str
    partition: int
    offset: int
    timestamp: float
    #: which feed message of a batched ticks.raw message (0 for an unbatched one)
    frame: int = 0


class Score(faust.Record, serializer="json"):
    """The model's verdict on one closed 1-second window of one product."""

    id: str
    product: str
    window_start: int
    window_end: int
    features: dict[str, float]
    probability: float
    threshold: float
    model_name: str
    model_version: str
    #: the closed bar (models.bars.Bar.to_dict), kept by the archive for retraining; None
    #: only from workers older than the archive
    bar: dict | None = None


class Alert(faust.Record, serializer="json"):
    """A spike warning; `id` (product:window_end) is stable across redeliveries."""

    id: str
    product: str
    window_end: int
    severity: str
    probability: float
    threshold: float
    model_name: str
    model_version: str
    features: dict[str, float]
    drivers: dict[str, float]


def window_id(product: str, window_end: int) -> str:
    return f"{product}:{window_end}"
