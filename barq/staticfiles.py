"""Serve a directory of static files: ``app.mount("/static", StaticFiles(directory=...))``.

Files are sent with :class:`~barq.files.FileResponse` (``sendfile``, ``ETag`` /
``Last-Modified``, ``304``, ``Range``). With ``html=True`` a directory serves
its ``index.html`` (``/docs`` is redirected to ``/docs/`` first so relative
links work) and a missing file serves ``404.html`` when the directory has one.

Dotfiles and dot-directories (``.env``, ``.git/config``) are not served unless
``allow_dotfiles=True``; ``.well-known`` (RFC 8615: ACME challenges,
``security.txt``) is the one exception.

Only ``GET`` and ``HEAD`` are allowed (``405`` otherwise). The request path is
checked segment by segment: ``..``, ``.``, encoded slashes or dots
(``%2f``, ``%2e%2e``), backslashes, NUL bytes, drive letters and absolute
paths are refused, and the final path is resolved (following symlinks) and
must stay inside the directory; every refusal answers ``404``, exactly like a
file that does not exist. A ``StaticFiles`` is also a server application on its
own (``Server(StaticFiles(directory="public"))``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from urllib.parse import unquote

from barq.files import FileResponse
from barq.http.messages import HTTPRequest, HTTPResponse
from barq.requests import Request
from barq.responses import JSONResponse, RedirectResponse, Response

__all__ = ["StaticFiles"]

_ALLOWED = "GET, HEAD"


class StaticFiles:
    """Serve the files under ``directory``.

    - ``html``: serve ``index.html`` for directories and ``404.html`` for misses.
    - ``fallback``: a single-page app's entry file (``"index.html"``), served for
      paths without an extension that name no file (the app routes them itself).
    - ``check_dir``: raise at construction when ``directory`` does not exist.
    - ``follow_symlink``: allow symlinks whose target lies *outside* the directory
      (off by default: such links answer 404).
    - ``allow_dotfiles``: serve names starting with ``.`` (off by default: they
      answer 404, like a missing file; ``.well-known`` is always served).
    - ``packages``: not supported; pass a directory.
    """

    def __init__(
        self,
        *,
        directory: str | os.PathLike[str],
        html: bool = False,
        check_dir: bool = True,
        follow_symlink: bool = False,
        index_files: Sequence[str] = ("index.html",),
        allow_dotfiles: bool = False,
        fallback: str | None = None,
    ) -> None:
        self.directory = os.fspath(directory)
        #: a single-page app's entry (``"index.html"``): served (200, not cached) for
        #: a path that names no file and has no extension (``/orders/7``), so the
        #: app's own router can take it; a missing ``/app.js`` stays a 404
        self.fallback = fallback
        self.html = html
        self.follow_symlink = follow_symlink
        self.allow_dotfiles = allow_dotfiles
        self.index_files = tuple(index_files)
        if check_dir and not os.path.isdir(self.directory):
            raise RuntimeError(f"StaticFiles directory {self.directory!r} does not exist")
        self._root = os.path.realpath(self.directory)

    # -- application interfaces -----------------------------------------------

    def __call__(self, raw: HTTPRequest) -> HTTPResponse:
        """Serve ``raw`` directly (the server's application interface)."""
        request = Request(raw)
        return self.serve_request(request).to_http(request)

    def serve_request(self, request: Request) -> Response:
        """The response for ``request`` (its ``raw.path`` is relative to the directory)."""
        raw = request.raw
        if raw.method not in ("GET", "HEAD"):
            return JSONResponse(
                {"detail": "Method Not Allowed"}, status_code=405, headers={"allow": _ALLOWED}
            )
        parts = _safe_parts(raw.path)
        if parts is None or (not self.allow_dotfiles and _hidden(parts)):
            return self._not_found()
        full = self.resolve(parts)
        if full is None:
            return self._not_found()
        try:
            st = os.stat(full)
        except OSError:
            return self._not_found(parts)
        if stat.S_ISDIR(st.st_mode):
            if not self.html:
                return self._not_found()
            if not raw.path.endswith("/"):
                return _slash_redirect(raw)
            for index in self.index_files:
                index_path = os.path.join(full, index)
                try:
                    index_st = os.stat(index_path)
                except OSError:
                    continue
                if stat.S_ISREG(index_st.st_mode):
                    return FileResponse(index_path, stat_result=index_st)
            return self._not_found()
        if not stat.S_ISREG(st.st_mode):
            return self._not_found()
        return FileResponse(full, stat_result=st)

    # -- path handling ----------------------------------------------------------

    def resolve(self, parts: Sequence[str]) -> str | None:
        """The real path of ``parts`` under the directory, or None if it escapes it."""
        candidate = os.path.join(self._root, *parts)
        real = os.path.realpath(candidate)
        if real == self._root or real.startswith(self._root + os.sep):
            return real
        if self.follow_symlink and os.path.normpath(candidate).startswith(self._root + os.sep):
            return real
        return None

    def _not_found(self, parts: Sequence[str] | None = None) -> Response:
        if self.fallback and parts is not None and (not parts or "." not in parts[-1]):
            page = os.path.join(self._root, self.fallback)
            try:
                st = os.stat(page)
            except OSError:
                st = None
            if st is not None and stat.S_ISREG(st.st_mode):
                return FileResponse(page, stat_result=st, headers={"cache-control": "no-cache"})
        if self.html:
            page = os.path.join(self._root, "404.html")
            try:
                st = os.stat(page)
            except OSError:
                st = None
            if st is not None and stat.S_ISREG(st.st_mode):
                return FileResponse(page, status_code=404, stat_result=st)
        return JSONResponse({"detail": "Not Found"}, status_code=404)

    def __repr__(self) -> str:
        return f"StaticFiles(directory={self.directory!r}, html={self.html!r})"


def _hidden(parts: Sequence[str]) -> bool:
    """Whether a path names a dotfile or passes through a dot-directory."""
    return any(part.startswith(".") and part != ".well-known" for part in parts)


def _safe_parts(raw_path: str) -> list[str] | None:
    """Decoded path segments, or None when the path tries to leave the directory.

    Each segment is percent-decoded on its own, so an encoded ``/`` (``%2f``)
    cannot create a new segment; decoded segments that are ``.``/``..``, contain
    ``/``, ``\\`` or NUL, or look like a drive (``C:``) are refused.
    """
    if not raw_path.startswith("/") and raw_path != "":
        return None
    parts: list[str] = []
    for segment in raw_path.split("/"):
        if segment == "":
            continue
        try:
            name = unquote(segment, errors="strict")
        except UnicodeDecodeError:
            return None
        if name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
            return None
        if len(name) >= 2 and name[1] == ":":
            return None  # a Windows drive (C:foo)
        if os.sep in name or (os.altsep and os.altsep in name):
            return None
        parts.append(name)
    return parts


def _slash_redirect(raw: HTTPRequest) -> Response:
    """Redirect ``/dir`` to ``/dir/`` using the full original target (mount prefix kept)."""
    target = raw.target
    path, _, _ = target.partition("?")
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    location = path + "/" + ("?" + raw.query if raw.query else "")
    return RedirectResponse(location, status_code=307)
