"""Why a request cannot be accepted: one exception type per answer.

The parser (and the server, for timeouts) raise these; the server answers with
``status`` and closes the connection. :class:`ProtocolError` keeps its
``(status, message)`` form for statuses without a class of their own.
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "ContentTooLarge",
    "ExpectationFailed",
    "HeaderFieldsTooLarge",
    "MethodNotImplemented",
    "ProtocolError",
    "RequestTimeout",
    "URITooLong",
    "VersionNotSupported",
]


class ProtocolError(Exception):
    """The request cannot be accepted; answer ``status`` and close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.message!r})"


class _Fixed(ProtocolError):
    """A protocol error whose status is fixed by its class."""

    code = 400

    def __init__(self, message: str) -> None:
        super().__init__(self.code, message)


class BadRequest(_Fixed):
    """400: malformed syntax or ambiguous framing."""

    code = 400


class RequestTimeout(_Fixed):
    """408: the head or body did not arrive in time."""

    code = 408


class ContentTooLarge(_Fixed):
    """413: the body is larger than the server accepts."""

    code = 413


class URITooLong(_Fixed):
    """414: the request line is too long."""

    code = 414


class ExpectationFailed(_Fixed):
    """417: an ``Expect`` other than ``100-continue``."""

    code = 417


class HeaderFieldsTooLarge(_Fixed):
    """431: too many header (or trailer) fields, or too many bytes of them."""

    code = 431


class MethodNotImplemented(_Fixed):
    """501: a method or transfer coding the server does not implement."""

    code = 501


class VersionNotSupported(_Fixed):
    """505: an HTTP major version other than 1."""

    code = 505
