"""Small JSON over HTTPS with keep-alive: Barq against uvicorn, both serving TLS.

Certificates: a throw-away CA and localhost certificate (made with the openssl
command, as ``barq dev --https`` does). Contenders, each in a fresh process per
round, rounds alternating: Barq on the free-threaded build (2 threads), Barq on
the GIL build, FastAPI on uvicorn with 1 and with 2 workers (its ``--ssl-*``
options). wrk over https (keep-alive: the handshake is paid once per
connection), best of the rounds. Also plain-HTTP Barq, for what TLS costs.

    python -m benchmarks.tls --uvicorn-python /path/to/venv/bin/python
        [--python .venv-ft/bin/python] [--gil-python .venv/bin/python]
        [--connections 100] [--rounds 2] [--duration 5] [--warmup 2] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import tempfile
from pathlib import Path

from barq_cli.devcert import ensure_dev_certs
from benchmarks.procs import ServerProcess, free_port, stop_all
from benchmarks.scenarios import get_scenarios
from benchmarks.wrk import WrkResult, find_wrk, run_wrk

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=str(ROOT / ".venv-ft" / "bin" / "python"))
    parser.add_argument("--gil-python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--uvicorn-python", help="a Python with fastapi and uvicorn[standard]")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    wrk = find_wrk()
    if wrk is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    scenario = get_scenarios(["small-json"])[0]
    with tempfile.TemporaryDirectory(prefix="barq-tls-bench-") as folder:
        certs = ensure_dev_certs(Path(folder))
        client = ssl.create_default_context(cafile=str(certs.ca))
        tls_env = {"BARQ_BENCH_SSL_CERTFILE": str(certs.cert),
                   "BARQ_BENCH_SSL_KEYFILE": str(certs.key)}  # fmt: skip

        def barq(python: str, tls: bool) -> tuple[list[str], dict[str, str], bool]:
            return (
                [
                    python,
                    "-m",
                    "benchmarks.apps.barq_app",
                    "--port",
                    "{port}",
                    "--threads",
                    str(args.threads),
                ],
                dict(os.environ, **(tls_env if tls else {})),
                tls,
            )

        contenders: dict[str, tuple[list[str], dict[str, str], bool]] = {
            f"barq 3.13t {args.threads} threads, TLS": barq(args.python, True),
            f"barq GIL {args.threads} threads, TLS": barq(args.gil_python, True),
            f"barq 3.13t {args.threads} threads, plain HTTP": barq(args.python, False),
        }
        if args.uvicorn_python:
            for workers in (1, args.threads):
                contenders[f"uvicorn {workers} worker{'s' if workers > 1 else ''}, TLS"] = (
                    [
                        args.uvicorn_python,
                        "-m",
                        "uvicorn",
                        "benchmarks.apps.fastapi_app:app",
                        "--port",
                        "{port}",
                        "--workers",
                        str(workers),
                        "--log-level",
                        "warning",
                        "--no-access-log",
                        "--ssl-certfile",
                        str(certs.cert),
                        "--ssl-keyfile",
                        str(certs.key),
                    ],
                    dict(os.environ),
                    True,
                )
        best: dict[str, WrkResult] = {}
        runs: list[dict[str, object]] = []
        try:
            for round_no in range(args.rounds):
                names = list(contenders)
                if round_no % 2:
                    names.reverse()
                for name in names:
                    template, env, tls = contenders[name]
                    port = free_port()
                    command = [part.replace("{port}", str(port)) for part in template]
                    server = ServerProcess(
                        name, command, port, cwd=ROOT, env=env, tls=client if tls else None
                    )
                    server.start()
                    try:
                        url = f"{'https' if tls else 'http'}://localhost:{port}{scenario.path}"
                        run_wrk(wrk, url, scenario, connections=args.connections,
                                duration=args.warmup, threads=1)  # fmt: skip
                        result = run_wrk(wrk, url, scenario, connections=args.connections,
                                         duration=args.duration, threads=1)  # fmt: skip
                    finally:
                        server.stop()
                    if result.socket_error_total or result.non_2xx or not result.requests:
                        raise SystemExit(f"{name}: errors during the run: {result.to_dict()}")
                    runs.append({"contender": name, "round": round_no, **result.to_dict()})
                    print(f"round {round_no + 1}: {name:38s} {result.requests_per_s:9.0f} req/s  "
                          f"p99 {result.p99_ms:6.2f} ms", flush=True)  # fmt: skip
                    if name not in best or result.requests_per_s > best[name].requests_per_s:
                        best[name] = result
        finally:
            stop_all()
    print(f"\nsmall JSON over HTTPS (keep-alive), {args.connections} connections, "
          f"best of {args.rounds}")  # fmt: skip
    print("| server | requests/s | p50 | p99 |")
    print("| --- | ---: | ---: | ---: |")
    for name, r in best.items():
        print(f"| {name} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} ms | {r.p99_ms:.2f} ms |")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
