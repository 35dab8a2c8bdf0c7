"""WebSockets: echo round trips per second, and what idle WebSockets cost.

1. **Echo**: ``--connections`` clients (``benchmarks.ws_load``, the ``websockets``
   library's client, in one process) send a 32-byte text message and wait for
   the echo, in a loop. Contenders, a fresh process each, rounds alternating:
   Barq on the free-threaded build and on the GIL build (``async def`` echo
   endpoint), FastAPI on uvicorn (its default WebSocket stack, the ``websockets``
   library) with 1 and 2 workers. Best of the rounds.
2. **Idle**: ``--idle`` WebSockets opened and left idle (raw sockets, from this
   process), then small JSON over HTTP with wrk: requests/s and p99 beside the
   same run without the idle sockets, and the server's RSS per idle WebSocket.

    python -m benchmarks.websockets --uvicorn-python /path/to/venv/bin/python
        [--python .venv-ft/bin/python] [--gil-python .venv/bin/python]
        [--connections 32] [--idle 1000] [--rounds 2] [--duration 5] [--json FILE]

The uvicorn Python also runs the load client (it has ``websockets``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.procs import ServerProcess, free_port, stop_all, tree_rss_bytes
from benchmarks.scenarios import get_scenarios
from benchmarks.wrk import find_wrk, run_wrk

ROOT = Path(__file__).resolve().parent.parent


def _contenders(args: Any) -> dict[str, list[str]]:
    def barq(python: str) -> list[str]:
        return [python, "-m", "benchmarks.apps.barq_app", "--port", "{port}",
                "--threads", str(args.threads)]  # fmt: skip

    found = {
        f"barq 3.13t {args.threads} threads": barq(args.python),
        f"barq GIL {args.threads} threads": barq(args.gil_python),
    }
    for workers in sorted({1, args.threads}):
        found[f"uvicorn {workers} worker{'s' if workers > 1 else ''}"] = [
            args.uvicorn_python, "-m", "uvicorn", "benchmarks.apps.fastapi_app:app",
            "--port", "{port}", "--workers", str(workers), "--log-level", "warning",
            "--no-access-log", "--ws", "websockets",
        ]  # fmt: skip
    return found


def _start(name: str, template: list[str]) -> ServerProcess:
    port = free_port()
    command = [part.replace("{port}", str(port)) for part in template]
    server = ServerProcess(name, command, port, cwd=ROOT, env=dict(os.environ))
    server.start()
    return server


def echo(args: Any) -> dict[str, dict[str, Any]]:
    contenders = _contenders(args)
    best: dict[str, dict[str, Any]] = {}
    for round_no in range(args.rounds):
        names = list(contenders)
        if round_no % 2:
            names.reverse()
        for name in names:
            server = _start(name, contenders[name])
            try:
                load = subprocess.run(
                    [args.uvicorn_python, "-m", "benchmarks.ws_load",
                     f"ws://127.0.0.1:{server.port}/ws-echo",
                     "--connections", str(args.connections), "--duration", str(args.duration),
                     "--warmup", str(args.warmup)],
                    cwd=ROOT, capture_output=True, text=True, timeout=args.duration * 4 + 60,
                    check=True,
                )  # fmt: skip
            finally:
                server.stop()
            result = json.loads(load.stdout.strip().splitlines()[-1])
            if result["errors"] or not result["round_trips"]:
                raise SystemExit(f"{name}: errors during the run: {result}")
            print(f"echo round {round_no + 1}: {name:28s} {result['per_s']:9.0f} round trips/s  "
                  f"p99 {result['p99_ms']:6.2f} ms", flush=True)  # fmt: skip
            if name not in best or result["per_s"] > best[name]["per_s"]:
                best[name] = result
    return best


def _open_idle(port: int, count: int) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            f"GET /ws-idle HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                raise SystemExit(f"a WebSocket handshake was cut: {answer!r}")
            answer += chunk
        if not answer.startswith(b"HTTP/1.1 101"):
            raise SystemExit(f"a WebSocket handshake was refused: {answer[:200]!r}")
        sockets.append(sock)
    return sockets


def idle(args: Any) -> dict[str, dict[str, Any]]:
    wrk = find_wrk()
    if wrk is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.idle + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.idle + 4096), hard))
    scenario = get_scenarios(["small-json"])[0]
    contenders = _contenders(args)
    results: dict[str, dict[str, Any]] = {}
    for name in (n for n in contenders if "GIL" not in n and "2 workers" not in n):
        server = _start(name, contenders[name])
        sockets: list[socket.socket] = []
        try:
            url = f"http://127.0.0.1:{server.port}{scenario.path}"
            run_wrk(wrk, url, scenario, connections=100, duration=args.warmup, threads=1)
            before = run_wrk(wrk, url, scenario, connections=100, duration=args.duration,
                             threads=1)  # fmt: skip
            rss_before = tree_rss_bytes(server.pid)
            started = time.monotonic()
            sockets = _open_idle(server.port, args.idle)
            opened_s = time.monotonic() - started
            time.sleep(1.0)
            rss_after = tree_rss_bytes(server.pid)
            during = run_wrk(wrk, url, scenario, connections=100, duration=args.duration,
                             threads=1)  # fmt: skip
            alive = sum(1 for s in sockets if _still_open(s))
        finally:
            for sock in sockets:
                sock.close()
            server.stop()
        results[name] = {
            "idle": args.idle,
            "still_open": alive,
            "open_s": opened_s,
            "rss_per_socket_kib": (rss_after - rss_before) / args.idle / 1024,
            "http_before": before.to_dict(),
            "http_with_idle": during.to_dict(),
        }
        print(f"idle: {name:28s} {args.idle} open ({alive} still open after the load), "
              f"{results[name]['rss_per_socket_kib']:.1f} KiB RSS each; small JSON "
              f"{before.requests_per_s:,.0f} -> {during.requests_per_s:,.0f} req/s, "
              f"p99 {before.p99_ms:.2f} -> {during.p99_ms:.2f} ms", flush=True)  # fmt: skip
    return results


def _still_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=str(ROOT / ".venv-ft" / "bin" / "python"))
    parser.add_argument("--gil-python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument(
        "--uvicorn-python",
        required=True,
        help="a Python with fastapi, uvicorn[standard] and websockets",
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    try:
        best = echo(args)
        idle_results = idle(args)
    finally:
        stop_all()
    print(f"\nWebSocket echo, 32-byte text messages, {args.connections} clients, "
          f"best of {args.rounds}")  # fmt: skip
    print("| server | round trips/s | p50 | p99 |")
    print("| --- | ---: | ---: | ---: |")
    for name, r in best.items():
        print(f"| {name} | {r['per_s']:,.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms |")
    print(f"\n{args.idle} idle WebSockets during small JSON over HTTP (wrk, 100 connections)")
    print("| server | RSS per idle WebSocket | req/s without / with | p99 without / with |")
    print("| --- | ---: | ---: | ---: |")
    for name, r in idle_results.items():
        b, d = r["http_before"], r["http_with_idle"]
        rates = f"{b['requests_per_s']:,.0f} / {d['requests_per_s']:,.0f}"
        p99s = f"{b['p99_ms']:.2f} / {d['p99_ms']:.2f} ms"
        print(f"| {name} | {r['rss_per_socket_kib']:.1f} KiB | {rates} | {p99s} |")
    if args.json:
        args.json.write_text(json.dumps({"echo": best, "idle": idle_results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
