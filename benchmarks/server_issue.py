"""The ``--profile server-issue`` checks: the server's acceptance targets (issue #3).

1. small JSON at 100 connections: Barq free-threaded vs FastAPI+uvicorn (1 worker),
   req/s ratio ≥ 3.0, p99 no worse than uvicorn's, no socket errors;
2. CPU-bound at 64 connections: Barq free-threaded with 2 threads vs uvicorn with
   1 worker, req/s ratio ≥ 1.6;
3. fairness: with 300 idle keep-alive connections and 300 half-sent requests held
   open by this process, a fresh client's request completes in < 50 ms.
"""

from __future__ import annotations

import http.client
import socket
import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks.contenders import Contender
from benchmarks.measure import MeasureSettings, Run, ServerPool, measure
from benchmarks.procs import ServerError, ServerProcess, http_request
from benchmarks.scenarios import get_scenarios

__all__ = ["fairness_probe", "run_server_issue"]

SMALL_TARGET = 3.0
CPU_TARGET = 1.6
FAIRNESS_TARGET_MS = 50.0


def _error_check(name: str, target: str, error: str) -> dict[str, Any]:
    return {"name": name, "target": target, "measured": f"error: {error[:200]}", "passed": None}


def _ratio_checks(
    name: str, barq: Run, uvicorn: Run, target: float, *, latency: bool
) -> list[dict[str, Any]]:
    target_text = f"≥ {target:.1f}× uvicorn req/s"
    if barq.result is None or uvicorn.result is None:
        return [_error_check(name, target_text, barq.error or uvicorn.error or "no result")]
    ratio = barq.result["requests_per_s"] / max(uvicorn.result["requests_per_s"], 1e-9)
    checks = [
        {
            "name": name,
            "target": target_text,
            "measured": (
                f"{ratio:.2f}× ({barq.result['requests_per_s']:,.0f} vs "
                f"{uvicorn.result['requests_per_s']:,.0f} req/s)"
            ),
            "passed": ratio >= target,
            "ratio": round(ratio, 3),
        }
    ]
    if latency:
        b99, u99 = barq.result["p99_ms"], uvicorn.result["p99_ms"]
        checks.append(
            {
                "name": f"{name}: p99",
                "target": "p99 ≤ uvicorn's",
                "measured": f"{b99:.2f} ms vs {u99:.2f} ms",
                "passed": b99 <= u99,
            }
        )
        errors = barq.result["socket_error_total"]
        checks.append(
            {
                "name": f"{name}: socket errors",
                "target": "0 (Barq)",
                "measured": f"{errors} (uvicorn: {uvicorn.result['socket_error_total']})",
                "passed": errors == 0,
            }
        )
    return checks


def fairness_probe(
    host: str, port: int, *, idle: int = 300, half_sent: int = 300, samples: int = 5
) -> dict[str, Any]:
    """Hold ``idle`` keep-alive and ``half_sent`` incomplete connections; time fresh requests.

    Returns the fresh requests' latencies (ms), their median, and how many of the
    idle keep-alive connections still answer afterwards.
    """
    idle_conns: list[http.client.HTTPConnection] = []
    raw: list[socket.socket] = []
    try:
        for _ in range(idle):
            conn = http.client.HTTPConnection(host, port, timeout=10)
            conn.request("GET", "/hello")
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise ServerError(f"keep-alive set-up request answered {resp.status}")
            idle_conns.append(conn)
        for i in range(half_sent):
            sock = socket.create_connection((host, port), timeout=10)
            sock.sendall(f"GET /hello?slow={i} HTTP/1.1\r\nHost: {host}\r\nX-Slow: ".encode())
            raw.append(sock)
        time.sleep(0.2)  # let the server take them all in
        latencies = []
        for _ in range(samples):
            start = time.perf_counter()
            status, _ = http_request(host, port, "GET", "/hello", timeout=10)
            latencies.append((time.perf_counter() - start) * 1000)
            if status != 200:
                raise ServerError(f"fresh request answered {status}")
        still_open = 0
        for conn in idle_conns[:: max(1, len(idle_conns) // 10)]:
            try:
                conn.request("GET", "/hello")
                resp = conn.getresponse()
                resp.read()
                still_open += resp.status == 200
            except (OSError, http.client.HTTPException):
                pass
        return {
            "fresh_ms": [round(x, 2) for x in latencies],
            "median_ms": round(statistics.median(latencies), 2),
            "max_ms": round(max(latencies), 2),
            "idle_probed": len(idle_conns[:: max(1, len(idle_conns) // 10)]),
            "idle_still_answering": still_open,
        }
    finally:
        for conn in idle_conns:
            conn.close()
        for sock in raw:
            sock.close()


def run_server_issue(
    pool: ServerPool,
    contenders: dict[str, Contender],
    settings: MeasureSettings,
    log: Callable[[str], None],
) -> tuple[list[dict[str, Any]], list[Run]]:
    """Run the three checks; return (checks, the wrk runs they were computed from)."""
    small, cpu = get_scenarios(["small-json", "cpu"])
    barq, uvicorn = contenders["barq-ft"], contenders["uvicorn-1"]
    checks: list[dict[str, Any]] = []
    runs: list[Run] = []

    log("[bold]1/3[/] small JSON, 100 connections: Barq free-threaded vs uvicorn (1 worker)")
    b = measure(pool, barq, small, 100, settings)
    u = measure(pool, uvicorn, small, 100, settings)
    runs += [b, u]
    checks += _ratio_checks("small JSON @100", b, u, SMALL_TARGET, latency=True)
    pool.release(barq)  # the next check runs a 2-thread Barq

    log("[bold]2/3[/] CPU-bound, 64 connections: Barq free-threaded (2 threads) vs uvicorn (1)")
    barq2 = barq.with_parallelism(2)
    u = measure(pool, uvicorn, cpu, 64, settings)
    b = measure(pool, barq2, cpu, 64, settings)
    runs += [b, u]
    checks += _ratio_checks("CPU-bound @64, 2 threads", b, u, CPU_TARGET, latency=False)
    pool.release(barq2)
    pool.release(uvicorn)

    log("[bold]3/3[/] fairness: 300 idle keep-alive + 300 half-sent connections, fresh request")
    name, target = "fairness", f"fresh request < {FAIRNESS_TARGET_MS:.0f} ms (median of 5)"
    try:
        server: ServerProcess = pool.get(barq)
        probe = fairness_probe(server.host, server.port)
        alive = server.alive()
        checks.append(
            {
                "name": name,
                "target": target,
                "measured": (
                    f"median {probe['median_ms']:.1f} ms, max {probe['max_ms']:.1f} ms; "
                    f"idle keep-alive still answering {probe['idle_still_answering']}/"
                    f"{probe['idle_probed']}"
                ),
                "passed": probe["median_ms"] < FAIRNESS_TARGET_MS and alive,
                **probe,
            }
        )
    except (ServerError, OSError, http.client.HTTPException) as exc:
        checks.append(_error_check(name, target, str(exc)))
    finally:
        pool.release(barq)
    return checks, runs
