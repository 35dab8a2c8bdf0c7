"""The path matcher: a radix tree over path segments.

:class:`RadixTree` matches a request path segment by segment. Runs of static
segments are compressed into one edge (a radix tree over path segments), each
node has at most one parameter child (one whole segment) and one catch-all
(``{rest:path}``, the rest of the path). Static edges are tried before the
parameter child, which is tried before the catch-all, with backtracking, so
``/users/me`` wins over ``/users/{id}`` while ``/users/me/posts`` can still
reach ``/users/{id}/posts``.

The tree stores any value per (template, method) — routing stores its
:class:`~barq.routing.Route` objects — and knows nothing else about them.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar
from urllib.parse import unquote

from barq.exceptions import BarqError

__all__ = ["Match", "RadixTree", "compile_path"]

_PARAM_RE = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z_]+))?\}$")


class Endpoint(Protocol):
    """What the tree reads of a stored value (for conflict messages)."""

    @property
    def path(self) -> str: ...

    @property
    def name(self) -> str: ...


E = TypeVar("E", bound=Endpoint)


def compile_path(path: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Split a route template into ``(kind, value)`` segments and its parameter names.

    Kinds: ``"static"`` (value: the literal segment), ``"param"`` (one segment) and
    ``"path"`` (catch-all, last only). Raises :class:`BarqError` for bad templates.
    """
    if not path.startswith("/"):
        raise BarqError(f"route path {path!r} must start with '/'")
    segments: list[tuple[str, str]] = []
    names: list[str] = []
    parts = path[1:].split("/")
    for i, part in enumerate(parts):
        if "{" in part or "}" in part:
            m = _PARAM_RE.match(part)
            if m is None:
                raise BarqError(
                    f"route path {path!r}: a parameter must be a whole segment like "
                    f"'{{name}}' or '{{name:path}}', got {part!r}"
                )
            name, conv = m.group(1), m.group(2)
            if name in names:
                raise BarqError(f"route path {path!r}: parameter {name!r} appears twice")
            names.append(name)
            if conv in (None, "str"):
                segments.append(("param", name))
            elif conv == "path":
                if i != len(parts) - 1:
                    raise BarqError(f"route path {path!r}: '{{{name}:path}}' must come last")
                segments.append(("path", name))
            else:
                raise BarqError(
                    f"route path {path!r}: unknown converter {conv!r} (only ':path'; "
                    "declare the type in the handler's annotation instead)"
                )
        else:
            segments.append(("static", unquote(part)))
    return segments, names


class _Endpoint(Generic[E]):
    """What a tree position holds: method -> (value, parameter names)."""

    __slots__ = ("methods",)

    def __init__(self) -> None:
        self.methods: dict[str, tuple[E, tuple[str, ...]]] = {}

    def allowed(self) -> list[str]:
        methods = set(self.methods)
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods)


class _Node(Generic[E]):
    __slots__ = ("catchall", "endpoint", "param", "static")

    def __init__(self) -> None:
        # first segment -> (edge label: tuple of static segments, child)
        self.static: dict[str, tuple[tuple[str, ...], _Node[E]]] = {}
        self.param: _Node[E] | None = None
        self.catchall: _Endpoint[E] | None = None
        self.endpoint: _Endpoint[E] | None = None


class Match(Generic[E]):
    """A lookup result: the route, its raw (decoded, unconverted) parameters.

    ``route`` is None when the path exists but not for this method; then
    ``allowed`` lists the methods that do exist (for 405 + ``Allow``).
    """

    __slots__ = ("allowed", "params", "route")

    def __init__(
        self, route: E | None, params: dict[str, str], allowed: list[str] | None = None
    ) -> None:
        self.route = route
        self.params = params
        self.allowed = allowed


class RadixTree(Generic[E]):
    """Path matcher: a radix tree over path segments (see the module docstring)."""

    def __init__(self) -> None:
        self.root: _Node[E] = _Node()
        # fully static templates by path: an O(1) first try (static always wins)
        self.static: dict[str, _Endpoint[E]] = {}

    def insert(self, path: str, methods: Sequence[str], route: E) -> None:
        """Add ``route`` for ``methods`` at template ``path``; duplicates raise BarqError."""
        segments, names = compile_path(path)
        node = self.root
        i = 0
        n = len(segments)
        endpoint: _Endpoint[E] | None = None
        while i < n:
            kind = segments[i][0]
            if kind == "static":
                j = i
                while j < n and segments[j][0] == "static":
                    j += 1
                # Keys of these shared dicts are interned: in free-threaded 3.13 a
                # lookup from another thread with an equal but non-identical,
                # non-interned key takes a slow path (~10 us).
                run = tuple(sys.intern(v) for _, v in segments[i:j])
                edge = node.static.get(run[0])
                if edge is None:
                    child: _Node[E] = _Node()
                    node.static[run[0]] = (run, child)
                    node, i = child, j
                    continue
                label, child = edge
                k = 0
                while k < len(label) and k < len(run) and label[k] == run[k]:
                    k += 1
                if k < len(label):
                    # split the edge: label[:k] -> middle -> label[k:] -> child
                    middle: _Node[E] = _Node()
                    middle.static[label[k]] = (label[k:], child)
                    node.static[run[0]] = (label[:k], middle)
                    child = middle
                node, i = child, i + k
            elif kind == "param":
                if node.param is None:
                    node.param = _Node()
                node, i = node.param, i + 1
            else:  # catch-all
                if node.catchall is None:
                    node.catchall = _Endpoint()
                endpoint = node.catchall
                i += 1
        if endpoint is None:
            if node.endpoint is None:
                node.endpoint = _Endpoint()
            endpoint = node.endpoint
        for method in methods:
            existing = endpoint.methods.get(method)
            if existing is not None:
                raise BarqError(
                    f"route {method} {path} conflicts with {method} {existing[0].path} "
                    f"(endpoint {existing[0].name})"
                )
        for method in methods:
            endpoint.methods[sys.intern(method)] = (route, tuple(sys.intern(n) for n in names))
        if not names:
            self.static[sys.intern(path)] = endpoint

    @staticmethod
    def split(raw_path: str) -> list[str]:
        """Percent-decoded segments of a raw path (``"/a%2Fb/c"`` -> ``["a/b", "c"]``)."""
        segments = raw_path[1:].split("/")
        if "%" in raw_path:
            segments = [unquote(s) if "%" in s else s for s in segments]
        return segments

    def match(self, method: str, raw_path: str) -> Match[E] | None:
        """Find the route for ``method`` and the percent-encoded ``raw_path``.

        Returns None when no route has this path, a :class:`Match` with ``route``
        None (and ``allowed``) when only other methods do.
        """
        endpoint = self.static.get(raw_path)
        if endpoint is not None:
            hit = self._pick(endpoint, method)
            if hit is not None:
                return Match(hit[0], {})
        if not raw_path.startswith("/"):
            return None
        segments = self.split(raw_path)
        values: list[str] = []
        fallback: list[_Endpoint[E]] = []
        found = self._match(self.root, segments, 0, method, values, fallback)
        if found is not None:
            route, names, params = found
            return Match(route, dict(zip(names, params, strict=False)))
        if fallback:
            return Match(None, {}, fallback[0].allowed())
        return None

    def _match(
        self,
        node: _Node[E],
        segs: list[str],
        i: int,
        method: str,
        values: list[str],
        fallback: list[_Endpoint[E]],
    ) -> tuple[E, tuple[str, ...], list[str]] | None:
        n = len(segs)
        if i == n:
            endpoint = node.endpoint
            if endpoint is not None:
                hit = self._pick(endpoint, method)
                if hit is not None:
                    return hit[0], hit[1], values
                fallback.append(endpoint)
            # a catch-all also matches an empty rest
            if node.catchall is not None:
                return self._catchall(node.catchall, segs, i, method, values, fallback)
            return None
        seg = segs[i]
        edge = node.static.get(seg)
        if edge is not None:
            label, child = edge
            size = len(label)
            if size == 1 or tuple(segs[i : i + size]) == label:
                found = self._match(child, segs, i + size, method, values, fallback)
                if found is not None:
                    return found
        if node.param is not None and seg:
            values.append(seg)
            found = self._match(node.param, segs, i + 1, method, values, fallback)
            if found is not None:
                return found
            values.pop()
        if node.catchall is not None:
            return self._catchall(node.catchall, segs, i, method, values, fallback)
        return None

    def _catchall(
        self,
        endpoint: _Endpoint[E],
        segs: list[str],
        i: int,
        method: str,
        values: list[str],
        fallback: list[_Endpoint[E]],
    ) -> tuple[E, tuple[str, ...], list[str]] | None:
        hit = self._pick(endpoint, method)
        if hit is None:
            fallback.append(endpoint)
            return None
        return hit[0], hit[1], [*values, "/".join(segs[i:])]

    @staticmethod
    def _pick(endpoint: _Endpoint[E], method: str) -> tuple[E, tuple[str, ...]] | None:
        hit = endpoint.methods.get(method)
        if hit is None and method == "HEAD":
            hit = endpoint.methods.get("GET")
        return hit
