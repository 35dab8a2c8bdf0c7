"""Load-shaped checks with generous bounds: leaks, free-threaded concurrency, fairness."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time

import pytest

from barq.http.messages import HTTPRequest, HTTPResponse

pytestmark = pytest.mark.timeout(120)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def recv_until_eof(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_no_thread_or_fd_leak_after_10000_connections(serve) -> None:
    def app(request: HTTPRequest) -> HTTPResponse:
        if request.path == "/boom":
            raise RuntimeError("expected")
        return HTTPResponse(200, [], b"pong")

    threads_before = threading.active_count()
    fds_before = open_fds()
    total, clients = 10_000, 4
    errors: list[BaseException] = []
    statuses: dict[bytes, int] = {}
    lock = threading.Lock()

    with serve(app, threads=4, keepalive_timeout=5) as server:
        address = server.addresses[0]
        fds_serving = open_fds()
        threads_serving = threading.active_count()

        def client(index: int) -> None:
            seen: dict[bytes, int] = {}
            try:
                for i in range(index, total, clients):
                    kind = i % 10
                    sock = socket.create_connection(address, timeout=10)
                    try:
                        if kind == 0:  # connect and leave
                            pass
                        elif kind == 1:  # half a request, then leave
                            sock.sendall(b"GET / HTTP/1.1\r\nHo")
                        elif kind == 2:  # a malformed request
                            sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
                            status = recv_until_eof(sock)[9:12]
                            seen[status] = seen.get(status, 0) + 1
                        elif kind == 3:  # the handler raises
                            sock.sendall(
                                b"GET /boom HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                            )
                            status = recv_until_eof(sock)[9:12]
                            seen[status] = seen.get(status, 0) + 1
                        elif kind < 6:  # keep-alive: two requests, client closes
                            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 2)
                            data = b""
                            while data.count(b"pong") < 2:
                                chunk = sock.recv(65536)
                                assert chunk, "closed early"
                                data += chunk
                            seen[b"200"] = seen.get(b"200", 0) + 2
                        else:  # one request, server closes
                            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                            status = recv_until_eof(sock)[9:12]
                            seen[status] = seen.get(status, 0) + 1
                    finally:
                        sock.close()
            except BaseException as exc:
                errors.append(exc)
            with lock:
                for key, value in seen.items():
                    statuses[key] = statuses.get(key, 0) + value

        started = time.monotonic()
        workers = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(90)
        elapsed = time.monotonic() - started
        assert not any(w.is_alive() for w in workers), "clients hung"
        assert errors == []
        assert statuses == {
            b"200": 2 * (total * 2 // 10) + total * 4 // 10,
            b"400": total // 10,
            b"500": total // 10,
        }
        assert server.gauges()["accepted"] == total
        # every server-side socket is closed once the clients have gone
        assert wait_for(lambda: server.gauges()["open_connections"] == 0), server.gauges()
        assert wait_for(lambda: open_fds() <= fds_serving), (open_fds(), fds_serving)
        assert threading.active_count() == threads_serving
    assert wait_for(lambda: threading.active_count() <= threads_before)
    assert wait_for(lambda: open_fds() <= fds_before), (open_fds(), fds_before)
    print(f"10000 connections in {elapsed:.1f}s")


@pytest.mark.free_threaded
@pytest.mark.skipif(
    getattr(sys, "_is_gil_enabled", lambda: True)(), reason="needs a free-threaded build, GIL off"
)
def test_free_threaded_concurrency(serve) -> None:
    per_thread: dict[int, list[int]] = {}
    registry_lock = threading.Lock()

    def app(request: HTTPRequest) -> HTTPResponse:
        ident = threading.get_ident()
        counter = per_thread.get(ident)
        if counter is None:
            counter = [0]
            with registry_lock:
                per_thread[ident] = counter
        counter[0] += 1  # only this worker thread writes its own counter
        return HTTPResponse(200, [], request.query.encode())

    clients, per_client = 32, 300
    results: list[int] = []
    errors: list[BaseException] = []
    done = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        good = 0
        try:
            sock = socket.create_connection(address, timeout=20)
            with sock:
                buf = b""
                for i in range(per_client):
                    token = f"{index}-{i}".encode()
                    sock.sendall(b"GET /?" + token + b" HTTP/1.1\r\nHost: t\r\n\r\n")
                    while not buf.endswith(token):
                        chunk = sock.recv(65536)
                        assert chunk, "connection closed"
                        buf += chunk
                    assert buf.startswith(b"HTTP/1.1 200 ")
                    buf = b""
                    good += 1
        except BaseException as exc:
            errors.append(exc)
        results.append(good)
        done.wait(60)

    with serve(app, threads=16) as server:
        address = server.addresses[0]
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        done.wait(90)  # raises BrokenBarrierError on a deadlock
        for thread in threads:
            thread.join(10)
        assert errors == []
        assert sum(results) == clients * per_client
        assert sum(c[0] for c in per_thread.values()) == clients * per_client
        assert 1 < len(per_thread) <= 16  # the work was spread over workers
    assert not sys._is_gil_enabled()  # nothing turned the GIL back on


def test_fairness_idle_and_half_sent_connections_do_not_starve_a_fresh_client(serve) -> None:
    with serve(
        lambda r: HTTPResponse(200, [], b"fresh"), threads=4, keepalive_timeout=60
    ) as server:
        address = server.addresses[0]
        held: list[socket.socket] = []
        try:
            for _ in range(300):  # idle keep-alive connections
                sock = socket.create_connection(address, timeout=10)
                held.append(sock)
                sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            for sock in held:
                data = b""
                while not data.endswith(b"fresh"):
                    chunk = sock.recv(4096)
                    assert chunk
                    data += chunk
            for _ in range(300):  # half-sent requests
                sock = socket.create_connection(address, timeout=10)
                held.append(sock)
                sock.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nab")
            assert wait_for(lambda: server.gauges()["open_connections"] == 600)
            started = time.monotonic()
            with socket.create_connection(address, timeout=10) as fresh:
                fresh.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                reply = recv_until_eof(fresh)
            elapsed = time.monotonic() - started
            assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b"fresh")
            assert elapsed < 1.0, f"fresh request took {elapsed:.3f}s"
        finally:
            for sock in held:
                sock.close()
