"""Creating the listening sockets (TCP, IPv6, Unix, inherited file descriptors)."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import sys

from barq.server.config import ServerConfig

__all__ = ["AddressInUseError", "bind_listeners", "bind_tcp", "describe_listener"]


class AddressInUseError(OSError):
    """The requested address is already in use."""


def bind_listeners(config: ServerConfig) -> tuple[list[socket.socket], list[socket.socket]]:
    """Return ``(listeners, owned)``: all listening sockets, and those we created.

    Sockets passed in (``fd`` or ``sockets``) are used as they are; the caller
    keeps ownership of the underlying file descriptor's lifetime in the
    supervisor, we only close our own objects.
    """
    listeners: list[socket.socket] = []
    owned: list[socket.socket] = []
    if config.sockets:
        listeners.extend(config.sockets)
    if config.fd is not None:
        # A duplicate: closing or collecting our socket object must never close
        # the descriptor its owner (e.g. a supervisor) still holds.
        sock = socket.socket(fileno=os.dup(config.fd))
        listeners.append(sock)
    if config.uds:
        sock = _bind_unix(config.uds, config.backlog)
        listeners.append(sock)
        owned.append(sock)
    if not listeners:
        sock = bind_tcp(config.host, config.port, config.backlog)
        listeners.append(sock)
        owned.append(sock)
    for sock in listeners:
        sock.setblocking(False)
    return listeners, owned


def bind_tcp(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 when ``host`` has a colon).

    Raises :class:`AddressInUseError` when the address is taken, ``OSError``
    otherwise. ``barq dev``'s supervisor binds with this too.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    bind_host = host.strip("[]")
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if sys.platform == "win32":
            # Windows' SO_REUSEADDR lets another process steal the port; this is
            # its way of saying "mine alone" (restarts rebind without waiting).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)  # type: ignore[attr-defined,unused-ignore]
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind((bind_host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise AddressInUseError(
                    exc.errno, f"address {host}:{port} is already in use"
                ) from None
            raise
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def _bind_unix(path: str, backlog: int) -> socket.socket:
    if not hasattr(socket, "AF_UNIX"):
        raise OSError(f"unix sockets are not available on {sys.platform}: listen on host and port")
    # Remove a stale socket file left by a previous run (never a regular file).
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUseError(exc.errno, f"unix socket {path} is already in use") from None
        raise
    return sock


def describe_listener(sock: socket.socket, scheme: str = "http") -> str:
    """A URL-ish description: ``http://127.0.0.1:8000``, ``https://[::1]:8443``
    or ``unix:/run/app.sock``."""
    name = sock.getsockname()
    if sock.family == getattr(socket, "AF_UNIX", None):
        return f"unix:{name}"
    if sock.family == socket.AF_INET6:
        return f"{scheme}://[{name[0]}]:{name[1]}"
    return f"{scheme}://{name[0]}:{name[1]}"
