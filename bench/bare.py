"""Ceiling B: a bare Faust agent that only decodes ticks (`python -m bench.bare worker`).

It is the volspike app object itself (`app.core`: same broker, consumer and
commit settings) with none of volspike's agents, tables or views imported,
and one agent that parses each message with the worker's parser. The topic
is `VOLSPIKE_BENCH_TOPIC`; GET /bench/progress says how many ticks it decoded.
"""

from __future__ import annotations

import os

from app.core import app
from app.produce import split_frames
from models.ticks import Rejected, parse

topic = app.topic(os.environ.get("VOLSPIKE_BENCH_TOPIC", "bench.bare"),
                  key_type=bytes, value_type=bytes)
decoded = {"ticks": 0, "rejected": 0}


@app.agent(topic)
async def decode(stream):
    async for event in stream.events():
        for frame in split_frames(event.value, event.message.headers):
            try:
                decoded["ticks"] += len(parse(frame))
            except Rejected:
                decoded["rejected"] += 1


@app.page("/bench/progress")
async def progress(web, request):
    return web.json(decoded)


@app.page("/health")
async def health(web, request):
    return web.json({"ok": True})


if __name__ == "__main__":
    app.main()
