"""Does a graceful shutdown cut requests? Keep-alive clients hammer, SIGTERM, count.

A Barq server runs in its own process; ``threads`` client threads send request
after request over keep-alive connections (``http.client``, honouring
``Connection: close`` by reconnecting). After ``duration`` seconds the server
gets SIGTERM; the clients go on (reconnecting after each ``Connection: close``) until
their connection attempts are refused.
Every request is classified:

- *ok*: a complete 200 response;
- *refused*: the connection attempt was refused — the server had closed its
  listener: a clean refusal, the client knows nothing was sent;
- *cut*: the request was sent on an established connection and no complete
  response came back (reset, early EOF, timeout) — lost work the client cannot
  tell apart from a crash. A lossless shutdown has none.

::

    python -m benchmarks.shutdown_loss --runs 5 --threads 32 --duration 10
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SERVER = """
import sys
from barq.http.messages import HTTPResponse
from barq.server import Server, ServerConfig

def app(request):
    return HTTPResponse(200, [("content-type", "text/plain")], b"ok")

server = Server(app, ServerConfig(host="127.0.0.1", port=0, threads=int(sys.argv[1])))
server.start()
print(server.addresses[0][1], flush=True)
server.serve_forever()
print("stopped", flush=True)
"""


@dataclass
class Tally:
    """Counts of one run (all client threads together)."""

    ok: int = 0
    refused: int = 0
    cut: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ok: int, refused: int, cut: int, errors: list[str]) -> None:
        with self.lock:
            self.ok += ok
            self.refused += refused
            self.cut += cut
            self.errors.extend(errors[:5])


def _client(port: int, tally: Tally) -> None:
    ok = refused = cut = 0
    errors: list[str] = []
    conn: http.client.HTTPConnection | None = None
    while True:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.connect()
            except ConnectionRefusedError:
                refused += 1
                conn = None
                break  # the listener is closed: the server is going away
            except OSError as exc:
                cut += 1
                errors.append(f"connect: {exc!r}")
                conn = None
                continue
        try:
            conn.request("GET", "/", headers={"Host": "t"})
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            cut += 1
            errors.append(repr(exc))
            conn.close()
            conn = None
            continue
        if response.status == 200 and body == b"ok":
            ok += 1
        else:
            cut += 1
            errors.append(f"status {response.status}")
        if response.will_close:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()
    tally.add(ok, refused, cut, errors)


def run_once(threads: int, duration: float, server_threads: int = 4) -> Tally:
    """One run: hammer for ``duration`` s, SIGTERM, wait for every client to stop."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(server_threads)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    tally = Tally()
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        clients = [
            threading.Thread(target=_client, args=(port, tally), daemon=True)
            for _ in range(threads)
        ]
        for client in clients:
            client.start()
        time.sleep(duration)
        proc.send_signal(signal.SIGTERM)
        for client in clients:
            client.join(30)
        proc.wait(30)
        if any(client.is_alive() for client in clients):
            tally.errors.append("a client did not finish")
        if proc.returncode != 0:
            tail = proc.stderr.read()[-500:] if proc.stderr else ""
            tally.errors.append(f"server exited with {proc.returncode}: {tail}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=32, help="client threads")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds before SIGTERM")
    parser.add_argument("--server-threads", type=int, default=4)
    args = parser.parse_args(argv)
    total = Tally()
    for i in range(args.runs):
        tally = run_once(args.threads, args.duration, args.server_threads)
        total.add(tally.ok, tally.refused, tally.cut, tally.errors)
        print(
            f"run {i + 1}: {tally.ok:,} ok, {tally.cut} cut, {tally.refused} refused"
            + (f" — {tally.errors[:3]}" if tally.errors else ""),
            flush=True,
        )
    print(f"all runs: {total.ok:,} ok, {total.cut} cut, {total.refused} refused")
    return 1 if total.cut or total.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
