"""The application ``barq dev`` serves while the user's code cannot be loaded.

Every request gets a 500 that shows the same error as the terminal: the
exception, the file and line, and the traceback — the user's own frames, not
the importer's. Browsers get an HTML page that reloads itself as soon as a
fixed version serves; other clients (curl, tests) get plain text, or JSON when
they ask for it.
"""

from __future__ import annotations

import html
import json
import os
import traceback
from dataclasses import dataclass
from types import TracebackType

from barq.http.messages import HTTPRequest, HTTPResponse

__all__ = ["ERROR_HEADER", "ErrorApp", "LoadError", "user_frames"]

#: Set on every error-page response (the page polls until a response lacks it).
ERROR_HEADER = "x-barq-error"


def _internal(filename: str) -> bool:
    return (
        filename.startswith("<frozen")
        or f"{os.sep}importlib{os.sep}" in filename
        or f"{os.sep}barq_cli{os.sep}" in filename
    )


def user_frames(tb: TracebackType | None) -> TracebackType | None:
    """``tb`` without the importer's own frames (Barq's and importlib's) at its top."""
    while tb is not None and _internal(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return tb


@dataclass(frozen=True)
class LoadError:
    """Why the application could not be loaded."""

    summary: str
    traceback: str
    filename: str | None = None
    lineno: int | None = None

    @classmethod
    def from_exception(cls, exc: BaseException, summary: str | None = None) -> LoadError:
        """Describe ``exc`` (for a SyntaxError, the offending file and line)."""
        filename: str | None = None
        lineno: int | None = None
        if isinstance(exc, SyntaxError) and exc.filename:
            filename, lineno = exc.filename, exc.lineno
        else:
            frames = traceback.extract_tb(exc.__traceback__)
            user = [f for f in frames if not _internal(f.filename)]
            if user:
                filename, lineno = user[-1].filename, user[-1].lineno
        text = "".join(traceback.format_exception(type(exc), exc, user_frames(exc.__traceback__)))
        first = f"{type(exc).__name__}: {exc}"
        return cls(summary or first, text, filename, lineno)

    @property
    def location(self) -> str:
        if self.filename is None:
            return ""
        return f"{self.filename}:{self.lineno}" if self.lineno else self.filename


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Barq: the application failed to load</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem;
        padding: 0 1rem; color: #222; }}
h1 {{ font-size: 1.3rem; color: #b00020; }}
.where {{ font-family: ui-monospace, monospace; background: #fff3cd; padding: .2rem .4rem; }}
pre {{ background: #1e1e1e; color: #eee; padding: 1rem; overflow-x: auto; border-radius: 6px; }}
p.hint {{ color: #555; }}
</style></head><body>
<h1>{summary}</h1>
{where}
<pre>{traceback}</pre>
<p class="hint" id="hint">Fix the error and save: <code>barq dev</code> reloads
automatically, and this page reloads itself as soon as your application serves again.</p>
<script>
(function poll() {{
  fetch(location.href, {{method: "HEAD", cache: "no-store"}})
    .then(function (r) {{
      if (!r.headers.get("{header}")) {{ location.reload(); }} else {{ setTimeout(poll, 500); }}
    }})
    .catch(function () {{ setTimeout(poll, 1000); }});
}})();
</script>
</body></html>
"""


class ErrorApp:
    """An application answering every request with a 500 describing ``error``."""

    def __init__(self, error: LoadError) -> None:
        self.error = error

    def __call__(self, request: HTTPRequest) -> HTTPResponse:
        accept = request.header("accept", "") or ""
        headers = [("cache-control", "no-store"), (ERROR_HEADER, "load-failed")]
        if "text/html" in accept:
            where = (
                f'<p>In <span class="where">{html.escape(self.error.location)}</span></p>'
                if self.error.location
                else ""
            )
            body = _PAGE.format(
                summary=html.escape(self.error.summary),
                where=where,
                traceback=html.escape(self.error.traceback),
                header=ERROR_HEADER,
            ).encode()
            headers.append(("content-type", "text/html; charset=utf-8"))
        elif "application/json" in accept:
            body = json.dumps(
                {
                    "detail": "The application failed to load",
                    "error": self.error.summary,
                    "file": self.error.filename,
                    "line": self.error.lineno,
                    "traceback": self.error.traceback,
                }
            ).encode()
            headers.append(("content-type", "application/json"))
        else:
            lines = ["The application failed to load (barq dev)", "", self.error.summary]
            if self.error.location:
                lines.append(f"  at {self.error.location}")
            lines += ["", self.error.traceback]
            body = "\n".join(lines).encode()
            headers.append(("content-type", "text/plain; charset=utf-8"))
        return HTTPResponse(500, headers, body)
