"""Small request/response data structures: headers, query parameters, URL, state,
uploaded files.

All read-only views here are built from the raw pairs the server parsed and are
cheap to create; lookups are case-insensitive where HTTP says so (header names).
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Generator, Iterable, Iterator, Mapping
from typing import Any, BinaryIO, NamedTuple
from urllib.parse import parse_qsl, urlencode

__all__ = [
    "URL",
    "Address",
    "FormData",
    "Headers",
    "MutableHeaders",
    "QueryParams",
    "State",
    "UploadFile",
    "parse_cookie_header",
]


class Address(NamedTuple):
    """A ``(host, port)`` socket address."""

    host: str
    port: int


class _MultiDict(Mapping[str, str]):
    """Shared read-only multidict over ``(key, value)`` pairs; ``[]`` gives the last value."""

    __slots__ = ("_dict", "_list")

    _list: list[tuple[str, str]]
    _dict: dict[str, str]

    def getlist(self, key: str) -> list[str]:
        """Every value for ``key`` in order (empty list when absent)."""
        return [v for k, v in self._list if k == key]

    def multi_items(self) -> list[tuple[str, str]]:
        """All ``(key, value)`` pairs, duplicates kept, in order."""
        return list(self._list)

    def __getitem__(self, key: str) -> str:
        return self._dict[key]

    def __contains__(self, key: object) -> bool:
        return key in self._dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _MultiDict):
            return sorted(self._list) == sorted(other._list)
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._list!r})"


class FormData(_MultiDict):
    """A parsed form: field name → value (``str`` or :class:`UploadFile`);
    ``getlist`` for repeated names (``await request.form()``)."""

    def __init__(self, items: list[tuple[str, Any]]) -> None:
        self._list = list(items)
        self._dict = dict(self._list)

    def __await__(self) -> Generator[Any, None, FormData]:
        """``await request.form()`` (Starlette's spelling) gives the form itself."""
        return self
        yield

    async def close(self) -> None:
        """Close the uploaded files (Starlette's spelling)."""
        for _, value in self._list:
            close = getattr(value, "close", None)
            if close is not None:
                result = close()
                if hasattr(result, "__await__"):
                    await result


class QueryParams(_MultiDict):
    """Parsed query string: a read-only multidict (``getlist`` for repeated keys).

    Accepts a raw query string (``"a=1&a=2"``), a mapping, or ``(key, value)`` pairs.
    Blank values are kept (``?flag=`` gives ``""``).
    """

    __slots__ = ()

    def __init__(
        self,
        query: str | Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
    ) -> None:
        if query is None:
            pairs: list[tuple[str, str]] = []
        elif isinstance(query, str):
            pairs = parse_qsl(query, keep_blank_values=True) if query else []
        elif isinstance(query, Mapping):
            pairs = _flatten(query.items())
        else:
            pairs = _flatten(query)
        self._list = pairs
        self._dict = dict(pairs)

    def __str__(self) -> str:
        return urlencode(self._list)


def _flatten(items: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in items:
        if isinstance(value, list | tuple):
            pairs.extend((str(key), _param_str(v)) for v in value)
        else:
            pairs.append((str(key), _param_str(value)))
    return pairs


def _param_str(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return str(value)


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive view of HTTP headers (a multidict).

    ``headers["content-type"]`` and ``headers.get("Content-Type")`` give the
    first value; :meth:`getlist` gives all of them (e.g. ``set-cookie``).
    Built from ``(name, value)`` pairs or a mapping.
    """

    __slots__ = ("_index", "_list")

    def __init__(
        self,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        *,
        lowercase: bool = False,
    ) -> None:
        if headers is None:
            raw: list[tuple[str, str]] = []
        elif isinstance(headers, Mapping):
            raw = [(k.lower(), v) for k, v in headers.items()]
        elif lowercase:
            # already lower-case names (what the server gives us): no copy needed
            raw = headers if isinstance(headers, list) else list(headers)
        else:
            raw = [(k.lower(), v) for k, v in headers]
        self._list = raw
        self._index: dict[str, str] | None = None

    @property
    def raw(self) -> list[tuple[str, str]]:
        """The underlying ``(lower-case name, value)`` pairs."""
        return self._list

    def _lookup(self) -> dict[str, str]:
        index = self._index
        if index is None:
            index = {}
            for k, v in self._list:
                index.setdefault(k, v)
            self._index = index
        return index

    def get(self, key: str, default: Any = None) -> Any:
        """First value for ``key`` (case-insensitive), or ``default``."""
        return self._lookup().get(key.lower(), default)

    def getlist(self, key: str) -> list[str]:
        """Every value for ``key`` (case-insensitive), in order."""
        key = key.lower()
        return [v for k, v in self._list if k == key]

    def multi_items(self) -> list[tuple[str, str]]:
        """All ``(name, value)`` pairs, duplicates kept."""
        return list(self._list)

    def __getitem__(self, key: str) -> str:
        return self._lookup()[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._lookup()

    def __iter__(self) -> Iterator[str]:
        return iter(self._lookup())

    def __len__(self) -> int:
        return len(self._lookup())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return sorted(self._list) == sorted(other._list)
        if isinstance(other, Mapping):
            return dict(self._lookup()) == {str(k).lower(): v for k, v in other.items()}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._list!r})"


class MutableHeaders(Headers):
    """Case-insensitive response headers: ``h["X"] = "1"`` replaces, :meth:`append` adds."""

    __slots__ = ()

    def __setitem__(self, key: str, value: str) -> None:
        key = key.lower()
        self._list = [(k, v) for k, v in self._list if k != key]
        self._list.append((key, value))
        self._index = None

    def __delitem__(self, key: str) -> None:
        key = key.lower()
        before = len(self._list)
        self._list = [(k, v) for k, v in self._list if k != key]
        if len(self._list) == before:
            raise KeyError(key)
        self._index = None

    def append(self, key: str, value: str) -> None:
        """Add a header line, keeping any existing ones with the same name."""
        self._list.append((key.lower(), value))
        self._index = None

    def setdefault(self, key: str, value: str) -> str:
        """Set ``key`` to ``value`` unless present; return the current value."""
        existing = self.get(key)
        if existing is None:
            self.append(key, value)
            return value
        return str(existing)

    def update(self, other: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        """Set every header of ``other`` (replacing existing values)."""
        items = other.items() if isinstance(other, Mapping) else other
        for key, value in items:
            self[key] = value

    def pop(self, key: str, default: Any = None) -> Any:
        """Remove ``key`` and return its first value, or ``default``."""
        value = self.get(key, default)
        if key in self:
            del self[key]
        return value

    def add_vary_header(self, value: str) -> None:
        """Add ``value`` to the ``Vary`` header unless already listed."""
        existing = self.get("vary")
        if existing is None:
            self["vary"] = value
            return
        names = [n.strip().lower() for n in existing.split(",")]
        if value.lower() not in names and "*" not in names:
            self["vary"] = f"{existing}, {value}"


def parse_cookie_header(header: str) -> dict[str, str]:
    """Parse a ``Cookie`` request header into ``{name: value}`` (lenient, like browsers).

    Pairs without ``=`` are ignored; surrounding double quotes are removed; the
    first occurrence of a name wins (the most specific path is sent first).
    """
    cookies: dict[str, str] = {}
    for chunk in header.split(";"):
        name, sep, value = chunk.partition("=")
        if not sep:
            continue
        name = name.strip()
        value = value.strip()
        if not name:
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies.setdefault(name, value)
    return cookies


class URL:
    """A request URL: ``scheme``, ``netloc``, ``hostname``, ``port``, ``path``, ``query``.

    ``path`` is percent-decoded; ``raw_path`` keeps the encoding. ``str(url)``
    gives the full URL.
    """

    __slots__ = ("_path", "netloc", "query", "raw_path", "scheme")

    def __init__(self, scheme: str, netloc: str, raw_path: str, query: str = "") -> None:
        self.scheme = scheme
        self.netloc = netloc
        self.raw_path = raw_path
        self.query = query
        self._path: str | None = None

    @property
    def path(self) -> str:
        """The percent-decoded path."""
        if self._path is None:
            from urllib.parse import unquote

            self._path = unquote(self.raw_path) if "%" in self.raw_path else self.raw_path
        return self._path

    @property
    def hostname(self) -> str:
        """Host without port (IPv6 brackets removed)."""
        host = self.netloc
        if host.startswith("["):
            return host[1 : host.find("]")]
        return host.rsplit(":", 1)[0] if ":" in host else host

    @property
    def port(self) -> int | None:
        """Explicit port from the ``Host`` header, or None."""
        host = self.netloc
        tail = host[host.find("]") + 1 :] if host.startswith("[") else host
        if ":" in tail:
            try:
                return int(tail.rsplit(":", 1)[1])
            except ValueError:
                return None
        return None

    def replace(self, *, path: str | None = None, query: str | None = None) -> URL:
        """A copy with ``path`` (percent-encoded) and/or ``query`` replaced."""
        return URL(
            self.scheme,
            self.netloc,
            self.raw_path if path is None else path,
            self.query if query is None else query,
        )

    def include_query_params(self, **params: Any) -> URL:
        """A copy with ``params`` added to (or replacing those in) the query."""
        current = dict(QueryParams(self.query).multi_items())
        current.update({k: _param_str(v) for k, v in params.items()})
        return self.replace(query=urlencode(current))

    def __str__(self) -> str:
        url = f"{self.scheme}://{self.netloc}{self.raw_path}"
        return f"{url}?{self.query}" if self.query else url

    def __repr__(self) -> str:
        return f"URL({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, URL | str):
            return str(self) == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))


class State:
    """An attribute bag for shared (``app.state``) or per-request (``request.state``) values.

    ``state.db = pool``; ``state.db``; a missing attribute raises
    ``AttributeError`` naming it. ``app.state`` is shared by every worker thread:
    keep objects stored there thread-safe, or use :attr:`lock`.
    """

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "_state", dict(values or {}))
        object.__setattr__(self, "_lock", None)

    @property
    def lock(self) -> threading.Lock:
        """A lock for read-modify-write on shared state (created on first use)."""
        lock: threading.Lock | None = self.__dict__["_lock"]
        if lock is None:
            lock = _make_lock(self)
        return lock

    def __setattr__(self, name: str, value: Any) -> None:
        self._state[name] = value

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_state"][name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}") from None

    def __delattr__(self, name: str) -> None:
        try:
            del self._state[name]
        except KeyError:
            raise AttributeError(name) from None

    def __contains__(self, name: str) -> bool:
        return name in self._state

    def update(self, values: Mapping[str, Any]) -> None:
        """Set several attributes at once."""
        self._state.update(values)

    def as_dict(self) -> dict[str, Any]:
        """A shallow copy of the stored values."""
        return dict(self._state)

    def __repr__(self) -> str:
        return f"State({self._state!r})"


_state_lock_guard = threading.Lock()


def _make_lock(state: State) -> threading.Lock:
    with _state_lock_guard:
        lock: threading.Lock | None = state.__dict__["_lock"]
        if lock is None:
            lock = threading.Lock()
            object.__setattr__(state, "_lock", lock)
        return lock


class UploadFile:
    """An uploaded file from a ``multipart/form-data`` body.

    - ``filename``: the name the client sent (may be ``None``), never a path to trust.
    - ``content_type``: the part's ``Content-Type`` (``application/octet-stream``
      when the client sent none); ``headers``: all the part's headers.
    - ``file``: the underlying binary file object (a ``SpooledTemporaryFile``).
    - ``size``: the number of bytes received.
    - :meth:`read`, :meth:`write`, :meth:`seek`, :meth:`close`.

    Barq closes it once the request is finished; read what you need in the
    handler (or copy it elsewhere) rather than in a background task.
    """

    __slots__ = ("content_type", "file", "filename", "headers", "size")

    #: bytes kept in memory before the upload moves to a temporary file
    spool_max_size = 1024 * 1024

    def __init__(
        self,
        file: BinaryIO | None = None,
        *,
        filename: str | None = None,
        size: int | None = None,
        headers: Headers | None = None,
        content_type: str | None = None,
    ) -> None:
        if file is None:
            spooled: Any = tempfile.SpooledTemporaryFile(max_size=self.spool_max_size)  # noqa: SIM115
            file = spooled
        self.file: BinaryIO = file
        self.filename = filename
        self.size = size
        self.headers = headers if headers is not None else Headers()
        if content_type is None:
            content_type = self.headers.get("content-type") or "application/octet-stream"
        self.content_type = content_type

    @property
    def in_memory(self) -> bool:
        """False once a spooled upload has been moved to a file on disk."""
        rolled = getattr(self.file, "_rolled", None)
        return not rolled if rolled is not None else False

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all remaining by default) from the current
        position. FastAPI code's ``await file.read()`` works too (the bytes
        returned can be awaited, giving themselves)."""
        return _AwaitableBytes(self.file.read(size))

    def write(self, data: bytes) -> Any:
        """Append ``data`` (used while parsing; updates :attr:`size`); the number
        of bytes written (awaitable in async code, as Starlette's is)."""
        written = self.file.write(data)
        self.size = (self.size or 0) + len(data)
        return _maybe_awaitable(written)

    def seek(self, offset: int, whence: int = 0) -> Any:
        """Move the read position (``seek(0)`` to read again from the start); the
        new position (awaitable in async code: ``await file.seek(0)``)."""
        return _maybe_awaitable(self.file.seek(offset, whence))

    def tell(self) -> int:
        """The current read position."""
        return self.file.tell()

    def close(self) -> Any:
        """Close (and delete) the underlying temporary file (``await file.close()``
        works in async code)."""
        self.file.close()
        return _maybe_awaitable(None)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return bool(self.file.closed)

    def __enter__(self) -> UploadFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"UploadFile(filename={self.filename!r}, size={self.size!r}, "
            f"content_type={self.content_type!r})"
        )

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.is_instance_schema(cls)

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        # OpenAPI 3.1 spelling of a file (``format: binary`` was 3.0's)
        return {"type": "string", "contentMediaType": "application/octet-stream"}


class _AwaitableBytes(bytes):
    """Bytes that ``await`` also accepts (giving themselves): FastAPI's
    ``await upload.read()`` beside Barq's ``upload.read()``."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, bytes]:
        return bytes(self)
        yield  # a generator that never suspends


class _Done:
    """An awaitable whose result is already there."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        return self.value
        yield


def _maybe_awaitable(value: Any) -> Any:
    """``value``, or an awaitable giving it when called from async code."""
    from asyncio import events

    return _Done(value) if events._get_running_loop() is not None else value
