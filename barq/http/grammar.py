"""The request grammar (RFC 9110 / RFC 9112 ABNF) as regular expressions, once.

Everything is matched on ``str``: the head is decoded as latin-1 (one byte, one
code point), so byte-exact rules keep their meaning. The parser checks the
common shapes with ``str`` methods first and only uses these on unusual input:
shared regex objects are comparatively costly on free-threaded builds.
"""

from __future__ import annotations

import re

from barq.http.errors import BadRequest

__all__ = [
    "AUTHORITY",
    "BAD_VALUE_CHAR",
    "CHUNK_EXT",
    "CHUNK_SIZE",
    "HEX",
    "HOST",
    "OWS",
    "REQUEST_LINE",
    "TOKEN",
    "VERSIONISH",
    "parse_field",
]

#: RFC 9110 §5.6.2 tchar, as the inside of a character class.
TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
#: Optional whitespace (RFC 9110 §5.6.3): only SP and HTAB, never other Unicode space.
OWS = " \t"

#: token = 1*tchar
TOKEN = re.compile(f"[{TCHAR}]+")
#: request-line = method SP request-target SP HTTP-version (RFC 9112 §3)
REQUEST_LINE = re.compile(f"([{TCHAR}]+) ([\x21-\x7e]+) HTTP/([0-9])\\.([0-9])")
#: anything shaped like a request line, to tell 505 (another version) from 400
VERSIONISH = re.compile(r"[^ ]+ [^ ]+ HTTP/([0-9]+)\.([0-9]+)")
#: what a field value must not contain: CTLs other than HTAB (obs-text is allowed)
BAD_VALUE_CHAR = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
#: chunk-size = 1*HEXDIG, at most 16 digits (64 bits)
CHUNK_SIZE = re.compile("[0-9A-Fa-f]{1,16}")
HEX = re.compile("[0-9A-Fa-f]+")
#: chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] )
CHUNK_EXT = re.compile(
    f"(?:[ \\t]*;[ \\t]*[{TCHAR}]+(?:[ \\t]*=[ \\t]*(?:[{TCHAR}]+"
    '|"(?:[\\t \\x21\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]|\\\\[\\t \\x21-\\x7e\\x80-\\xff])*"))?)*'
)
#: Host = uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2): an IP-literal in
#: brackets or a reg-name (which covers IPv4), no userinfo, no path; may be empty
HOST = re.compile(
    r"(?:\[[0-9A-Za-z:.\-_~!$&'()*+,;=%]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)"
    r"(?::[0-9]*)?"
)
#: authority of an absolute-form target: a Host, and never userinfo (RFC 9110 §4.2.4)
AUTHORITY = HOST


def parse_field(line: str) -> tuple[str, str]:
    """One ``field-name ":" OWS field-value OWS`` line (a header or trailer field).

    Returns the lower-cased name and the value without surrounding OWS; raises
    :class:`~barq.http.errors.BadRequest` for anything else.
    """
    if not line:
        raise BadRequest("empty header line")
    if line[0] in OWS:
        raise BadRequest("obsolete line folding is not allowed")
    colon = line.find(":")
    if colon <= 0:
        raise BadRequest("malformed header line")
    name = line[:colon]
    if TOKEN.fullmatch(name) is None:
        raise BadRequest("invalid header name")
    value = line[colon + 1 :].strip(OWS)
    if BAD_VALUE_CHAR.search(value) is not None:
        raise BadRequest("invalid character in header value")
    return name.lower(), value
