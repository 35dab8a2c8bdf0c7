"""Creating the listening sockets (TCP, IPv6, Unix, inherited file descriptors)."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import sys

from barq.server.config import ServerConfig

__all__ = [
    "AddressInUseError",
    "bind_listeners",
    "bind_tcp",
    "describe_listener",
    "refuse_new_handshakes",
]


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


#: SO_ATTACH_FILTER (Linux, asm-generic/socket.h).
_SO_ATTACH_FILTER = 26
#: A classic BPF program run by TCP on every packet for the listening socket: a
#: segment whose flags have SYN without ACK (a new handshake) is dropped, any
#: other (the final ACK of a handshake already under way, data) passes. A socket
#: filter on TCP sees the packet from the TCP header on: its flags are byte 13.
_DROP_SYN = (
    (0x30, 0, 0, 13),  # ldb [13]          A = TCP flags
    (0x54, 0, 0, 0x12),  # and #0x12       A &= SYN | ACK
    (0x15, 0, 1, 0x02),  # jeq #0x02       SYN alone? next, else skip one
    (0x06, 0, 0, 0),  # ret #0             drop
    (0x06, 0, 0, 0xFFFFFFFF),  # ret #-1   keep all of it
)


def refuse_new_handshakes(sock: socket.socket) -> bool:
    """Make a listening TCP socket ignore new connection attempts (Linux) while
    handshakes already under way still complete into its backlog.

    Used at shutdown just before the socket is closed: a client whose handshake
    completed after the last ``accept()`` would be reset by the close (it may
    already have sent its request), one whose SYN was ignored retries a second
    later, finds the port closed and is refused, knowing nothing was sent.
    True when the filter is in place; False elsewhere (other systems, Unix
    sockets, a kernel that refuses it), where closing right after the last
    ``accept()`` is all that can be done.
    """
    if not sys.platform.startswith("linux") or sock.family not in (
        socket.AF_INET,
        socket.AF_INET6,
    ):
        return False
    import ctypes  # the filter is passed by address; stdlib, free-threading safe
    import struct

    program = b"".join(struct.pack("HBBI", *insn) for insn in _DROP_SYN)
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("HP", len(_DROP_SYN), ctypes.addressof(buffer))
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
    except OSError:
        return False
    return True
