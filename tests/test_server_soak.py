"""Soak (opt-in: ``pytest --run-slow``): a long mixed load with hostile peers
leaves the server's file descriptors, threads and memory flat.

Duration: ``BARQ_SOAK_SECONDS`` (default 300). Normal keep-alive clients hammer
the whole time; every few seconds a wave of hostile peers comes and goes: a
pipelining client that never reads, slow uploaders, malformed requests, clients
that vanish mid-request, and a large upload that is spooled to disk.

File descriptors and threads must come back exactly to where they were. Memory
is sampled all along: the allocator takes a minute or so to reach its working
set (3.13t: ~30 → ~48 MiB here), so the peak of the last third of the run is
compared with the peak of the middle third.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.test_server_hostile import rss_bytes, server_process

SECONDS = float(os.environ.get("BARQ_SOAK_SECONDS", "300"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(SECONDS + 300)]


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


def _hammer(port: int, stop: threading.Event, counts: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not stop.is_set():
        try:
            conn.request("GET", "/", headers={"Host": "t"})
            response = conn.getresponse()
            response.read()
            counts[0] += 1
            if response.will_close:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        except (OSError, http.client.HTTPException):
            counts[1] += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.close()


def _hostile_wave(port: int) -> None:
    address = ("127.0.0.1", port)
    socks: list[socket.socket] = []
    try:
        flood = socket.socket()
        flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        flood.connect(address)
        flood.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            flood.send(b"GET /f HTTP/1.1\r\nHost: t\r\n\r\n" * 5000)
        socks.append(flood)
        for _ in range(50):
            slow = socket.create_connection(address, timeout=5)
            slow.sendall(b"POST /u HTTP/1.1\r\nHost: t\r\nContent-Length: 9999\r\n\r\nab")
            socks.append(slow)
        for bad in (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", b"\x16\x03\x01garbage\r\n\r\n"):
            with socket.create_connection(address, timeout=5) as sock:
                sock.sendall(bad)
                with contextlib.suppress(OSError):
                    sock.recv(4096)
        with socket.create_connection(address, timeout=5) as sock:  # vanishes mid-head
            sock.sendall(b"GET /half HTTP/1.1\r\nHo")
        with socket.create_connection(address, timeout=10) as sock:  # spooled upload
            size = 3 * 1024 * 1024
            sock.sendall(b"POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size)
            sock.sendall(b"u" * size)
            sock.recv(4096)
        time.sleep(1.0)
    finally:
        for sock in socks:
            sock.close()


def test_soak_keeps_fds_threads_and_memory_flat() -> None:
    with server_process(threads=4) as (port, proc):
        stop = threading.Event()
        counts = [0, 0]
        clients = [
            threading.Thread(target=_hammer, args=(port, stop, counts), daemon=True)
            for _ in range(8)
        ]
        for client in clients:
            client.start()
        time.sleep(5)  # warm: caches, thread stacks
        _hostile_wave(port)
        time.sleep(2)
        start = (_fds(proc.pid), _threads(proc.pid))
        samples: list[tuple[float, int]] = []
        began = time.monotonic()
        while time.monotonic() - began < SECONDS:
            _hostile_wave(port)
            time.sleep(2)
            samples.append((time.monotonic() - began, rss_bytes(proc.pid)))
        time.sleep(3)  # let the last wave's connections expire
        end = (_fds(proc.pid), _threads(proc.pid))
        stop.set()
        for client in clients:
            client.join(15)
    third = SECONDS / 3
    middle = max(rss for t, rss in samples if third <= t < 2 * third)
    last = max(rss for t, rss in samples if t >= 2 * third)
    report = (
        f"fds {start[0]}→{end[0]}, threads {start[1]}→{end[1]}, "
        f"RSS peak {middle >> 20} MiB (middle third) → {last >> 20} MiB (last third), "
        f"{counts[0]} requests, {counts[1]} client errors"
    )
    print(report)
    assert counts[0] > 1000, report
    assert end[0] - start[0] <= 2, report
    assert end[1] == start[1], report
    assert last - middle < 8 * 1024 * 1024, report
