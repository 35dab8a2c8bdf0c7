"""A WebSocket echo load generator (the ``websockets`` library's asyncio client).

``connections`` clients each send a small text message and wait for its echo, in
a loop, for ``duration`` seconds after ``warmup``; prints one JSON line: round
trips, round trips per second, p50/p99 round-trip latency (ms), errors. Run it
with a Python that has ``websockets`` (the bench extra's uvicorn[standard]):

    python -m benchmarks.ws_load ws://127.0.0.1:8000/ws-echo --connections 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any


async def _client(url: str, message: str, until: float, start: float, out: list[float],
                  errors: list[str]) -> None:  # fmt: skip
    from websockets.asyncio.client import connect

    try:
        async with connect(url, compression=None, max_size=None, ping_interval=None) as ws:
            while True:
                sent = time.perf_counter()
                if sent >= until:
                    return
                await ws.send(message)
                if await ws.recv() != message:
                    errors.append("wrong echo")
                    return
                if sent >= start:
                    out.append(time.perf_counter() - sent)
    except Exception as exc:  # counted and reported
        errors.append(f"{type(exc).__name__}: {exc}")


async def _main(args: Any) -> dict[str, Any]:
    message = "x" * args.size
    now = time.perf_counter()
    start, until = now + args.warmup, now + args.warmup + args.duration
    latencies: list[float] = []
    errors: list[str] = []
    await asyncio.gather(
        *(_client(args.url, message, until, start, latencies, errors)
          for _ in range(args.connections))
    )  # fmt: skip
    latencies.sort()
    count = len(latencies)

    def pct(p: float) -> float:
        return latencies[min(count - 1, int(count * p))] * 1000 if count else 0.0

    return {
        "round_trips": count,
        "per_s": count / args.duration,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--size", type=int, default=32, help="message size in bytes")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(_main(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
