"""Client side of the stats endpoint: targets, fetching snapshots, discovery."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from barq.metrics.core import SCHEMA
from barq.metrics.endpoint import StatsAddressError, parse_stats_address
from barq.metrics.registry import list_servers

__all__ = ["FetchError", "Target", "discover_targets", "fetch_snapshot", "parse_target"]


class FetchError(Exception):
    """The target could not be reached or did not answer with a Barq snapshot."""


@dataclass(frozen=True, slots=True)
class Target:
    """A stats endpoint: ``url`` of its JSON snapshot and a short ``label``.

    Targets found in the registry also say what they serve: ``mode`` (``dev``,
    ``run``, or ``app`` for a server started from code), ``app`` (its import
    string), ``address`` (where the application listens) and the ``pid`` of the
    process that registered it.
    """

    url: str
    label: str
    mode: str | None = None
    app: str | None = None
    address: str | None = None
    pid: int | None = None


def parse_target(text: str) -> Target:
    """``HOST:PORT``, ``[IPv6]:PORT``, ``:PORT``, ``PORT`` or an ``http://`` URL.

    A URL without a path (or with ``/``) gets ``/stats.json``. Raises ValueError
    with a message fit for users.
    """
    value = text.strip()
    if "://" in value:
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"invalid target {text!r}: expected http://HOST:PORT")
        try:
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise ValueError(f"invalid port in target {text!r}")
        path = parts.path if parts.path not in ("", "/") else "/stats.json"
        url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
        return Target(url, parts.netloc)
    try:
        host, port = parse_stats_address(value)
    except StatsAddressError as exc:
        raise ValueError(
            f"invalid target {text!r}: {exc}. Use HOST:PORT (e.g. 127.0.0.1:9100) or a URL."
        )
    if port == 0:
        raise ValueError(f"invalid target {text!r}: port 0 is not a real port")
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return Target(f"http://{netloc}/stats.json", netloc)


def fetch_snapshot(target: Target, timeout: float = 2.0) -> dict[str, Any]:
    """GET the target's snapshot. Raises :class:`FetchError` with a short reason."""
    request = urllib.request.Request(target.url, headers={"accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise FetchError(f"HTTP {exc.code} from {target.url}")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"cannot reach {target.label}: {reason}")
    try:
        data = json.loads(body)
    except ValueError:
        raise FetchError(f"{target.url} did not answer with JSON")
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise FetchError(f"{target.url} is not a Barq stats endpoint (schema {SCHEMA})")
    return data


def discover_targets() -> list[Target]:
    """Targets of the local servers in the registry (live processes only)."""
    targets = []
    for entry in list_servers():
        url = str(entry["url"]).rstrip("/") + "/stats.json"
        mode = str(entry.get("mode") or "app")
        app = str(entry["app"]) if entry.get("app") else None
        address = _app_address(entry.get("addresses"))
        shown = address or f"stats {entry['host']}:{entry['port']}"
        targets.append(Target(url, f"{mode} {shown}", mode, app, address, int(entry["pid"])))
    return targets


def _app_address(addresses: object) -> str | None:
    """The first application address of a registry entry, short: ``127.0.0.1:8000``,
    ``[::1]:8000`` or a Unix socket path."""
    if not isinstance(addresses, list) or not addresses:
        return None
    first = addresses[0]
    if isinstance(first, list) and len(first) >= 2:
        host, port = str(first[0]), first[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    text = str(first)
    for scheme in ("http://", "https://"):
        if text.startswith(scheme):
            return text[len(scheme) :].rstrip("/")
    return text
