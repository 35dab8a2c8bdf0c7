"""The event backends (barq.server.events), each one on its own, then under a server.

The ready set's contract: a registered descriptor that becomes ready is handed to
exactly one waiting ``poll`` and is disarmed until ``modify`` re-arms it; waiting
workers are served in turn; ``release_all`` makes every ``poll`` return the stop
descriptor. The whole server suite also runs on the selectors backend
(``BARQ_EVENT_BACKEND=poll`` in scripts/test); the tests here pin each backend.
"""

from __future__ import annotations

import ast
import select
import selectors
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import barq
from barq.http.messages import HTTPRequest, HTTPResponse
from barq.server import ServerConfig
from barq.server import events as events_mod
from barq.server.events import ReadySet, make_backend, readable, readable_among, resolve

AVAILABLE = ["epoll", "kqueue", "poll", "select"]
AVAILABLE = [
    name
    for name in AVAILABLE
    if (name == "epoll" and hasattr(select, "epoll"))
    or (name != "epoll" and hasattr(selectors, events_mod._SELECTOR_CLASSES[name]))
]


@pytest.fixture(params=AVAILABLE)
def ready_set(request: pytest.FixtureRequest) -> Iterator[ReadySet]:
    rs = make_backend(request.param).ready_set("test")
    yield rs
    rs.release_all()
    rs.close()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    yield a, b
    a.close()
    b.close()


def _wait(rs: ReadySet, timeout: float = 2.0) -> list[tuple[int, int]]:
    return rs.poll(timeout, 1)


def test_a_ready_descriptor_is_handed_out_once_until_rearmed(ready_set, pair) -> None:
    a, b = pair
    ready_set.register(a.fileno(), ready_set.READ)
    assert _wait(ready_set, 0.2) == []  # nothing to read yet
    b.send(b"x")
    got = _wait(ready_set)
    assert [fd for fd, _ in got] == [a.fileno()]
    # Still readable (nobody read the byte), but disarmed: not handed out again.
    assert _wait(ready_set, 0.3) == []
    ready_set.modify(a.fileno(), ready_set.READ)
    assert [fd for fd, _ in _wait(ready_set)] == [a.fileno()]


def test_write_interest_reports_room_to_write(ready_set, pair) -> None:
    a, _b = pair
    ready_set.register(a.fileno(), ready_set.WRITE)
    got = _wait(ready_set)
    assert [fd for fd, _ in got] == [a.fileno()]
    assert got[0][1] & ready_set.WRITE


def test_unregistered_descriptors_are_not_reported(ready_set, pair) -> None:
    a, b = pair
    ready_set.register(a.fileno(), ready_set.READ)
    ready_set.unregister(a.fileno())
    b.send(b"x")
    assert _wait(ready_set, 0.3) == []


def test_each_ready_connection_goes_to_exactly_one_of_many_waiting_workers(ready_set) -> None:
    pairs = [socket.socketpair() for _ in range(20)]
    got: list[int] = []
    lock = threading.Lock()
    stop_fd = ready_set.stop_fd

    def worker() -> None:
        while True:
            events = ready_set.poll(-1, 1)
            for fd, _ in events:
                if fd == stop_fd:
                    return
                with lock:
                    got.append(fd)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for a, _ in pairs:
            ready_set.register(a.fileno(), ready_set.READ)
        for _, b in pairs:
            b.send(b"x")
        deadline = time.monotonic() + 5
        while len(got) < len(pairs) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # a duplicate would show up now
    finally:
        ready_set.release_all()
        for t in threads:
            t.join(5)
    assert not any(t.is_alive() for t in threads), "release_all did not wake every worker"
    assert sorted(got) == sorted(a.fileno() for a, _ in pairs)
    for a, b in pairs:
        a.close()
        b.close()


def test_a_descriptor_closed_while_registered_does_not_stop_the_others(ready_set) -> None:
    a1, b1 = socket.socketpair()
    a2, b2 = socket.socketpair()
    ready_set.register(a1.fileno(), ready_set.READ)
    ready_set.register(a2.fileno(), ready_set.READ)
    time.sleep(0.05)  # the poller is waiting on both
    fd1 = a1.fileno()
    ready_set.unregister(fd1)  # what the reactor does before closing
    a1.close()
    b2.send(b"x")
    got = [fd for fd, _ in _wait(ready_set)]
    assert got == [a2.fileno()] or fd1 in got  # a stale report of the closed one is harmless
    if got != [a2.fileno()]:
        assert a2.fileno() in [fd for fd, _ in _wait(ready_set)]
    for s in (b1, a2, b2):
        s.close()


def test_release_all_wakes_every_poll_now_and_later(ready_set) -> None:
    ready_set.release_all()
    for _ in range(3):
        assert _wait(ready_set, 1.0) == [(ready_set.stop_fd, 0)] or (
            _wait(ready_set, 1.0)[0][0] == ready_set.stop_fd
        )


def test_readable_checks_never_consume(pair) -> None:
    a, b = pair
    assert not readable(a.fileno())
    b.send(b"hi")
    time.sleep(0.01)
    assert readable(a.fileno())
    assert readable_among([a.fileno(), b.fileno()]) == {a.fileno()}
    assert a.recv(10) == b"hi"


# -- choosing a backend --------------------------------------------------------------


def test_auto_is_epoll_on_linux_and_the_environment_variable_forces_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BARQ_EVENT_BACKEND", raising=False)
    if hasattr(select, "epoll"):
        assert resolve("auto") == "epoll"
    monkeypatch.setenv("BARQ_EVENT_BACKEND", "selectors")
    assert resolve("auto") in ("kqueue", "poll", "select")
    assert resolve("auto") != "epoll"
    monkeypatch.setenv("BARQ_EVENT_BACKEND", "select")
    assert resolve("auto") == "select"
    # An explicit choice in the configuration wins over the environment.
    if hasattr(select, "epoll"):
        assert resolve("epoll") == "epoll"


def test_unknown_or_unavailable_backends_are_refused_clearly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="unknown event backend 'iocp'"):
        resolve("iocp")
    monkeypatch.setenv("BARQ_EVENT_BACKEND", "kqeue")
    with pytest.raises(ValueError, match="BARQ_EVENT_BACKEND='kqeue' is not a backend"):
        resolve("auto")
    monkeypatch.delenv("BARQ_EVENT_BACKEND")
    with pytest.raises(ValueError, match="event_backend must be one of auto, epoll"):
        ServerConfig(event_backend="nope").validate()
    # What a Mac sees: no epoll. auto falls back to a selector; epoll is refused.
    monkeypatch.delattr(select, "epoll", raising=False)
    monkeypatch.setattr(sys, "platform", "darwin")
    assert resolve("auto") in ("kqueue", "select")
    with pytest.raises(ValueError, match="epoll event backend needs Linux"):
        resolve("epoll")


def test_nothing_outside_the_backend_module_calls_epoll() -> None:
    """epoll is named only in barq.server.events; inside the server package no
    other module touches select or selectors either (the CLI's own waits on
    pipes and the terminal use selectors, which is portable)."""
    root = Path(barq.__file__).resolve().parent
    allowed = root / "server" / "events.py"
    offenders: list[str] = []
    for path in [*root.rglob("*.py"), *(root.parent / "barq_cli").rglob("*.py")]:
        if path == allowed:
            continue
        in_server = path.parent == root / "server"
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(root.parent)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Attribute) and "epoll" in node.attr.lower():
                offenders.append(f"{where} .{node.attr}")
            elif isinstance(node, ast.Name) and "epoll" in node.id.lower():
                offenders.append(f"{where} {node.id}")
            elif in_server and isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module] if isinstance(node, ast.ImportFrom) else [
                    alias.name for alias in node.names
                ]  # fmt: skip
                if {"select", "selectors"} & set(names):
                    offenders.append(f"{where} imports {names}")
    assert offenders == []


# -- under a server ----------------------------------------------------------------


def _hello(request: HTTPRequest) -> HTTPResponse:
    return HTTPResponse(200, [("content-type", "text/plain")], b"hello")


@pytest.mark.parametrize("backend", AVAILABLE)
def test_the_server_serves_keep_alive_and_idle_clients_on_each_backend(
    serve, connect, backend: str
) -> None:
    with serve(_hello, threads=2, event_backend=backend) as server:
        assert server.reactor.backend.detail.endswith(resolve(backend))
        idle = [connect(server) for _ in range(6)]  # more idle clients than workers
        client = connect(server)
        for _ in range(3):
            client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = client.read_response()
            assert reply.status == 200 and reply.body == b"hello"
        for c in idle:  # each idle one is served at once when it finally speaks
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        for c in idle:
            assert c.read_response().body == b"hello"


def test_the_select_backend_caps_connections_below_fd_setsize(serve, caplog, monkeypatch) -> None:
    from barq.server import reactor

    monkeypatch.setattr(reactor, "_capped_warned", [])
    with serve(_hello, event_backend="select", max_connections=5000) as server:
        assert server.reactor.max_connections == events_mod._SELECT_MAX_CONNECTIONS
    with serve(_hello, event_backend="select", max_connections=5000) as server:
        assert server.reactor.max_connections == events_mod._SELECT_MAX_CONNECTIONS
    assert caplog.text.count("watches at most 900 connections") == 1  # said once
