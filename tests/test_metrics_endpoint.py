"""Stats endpoint app (called directly), Prometheus output, addresses, registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from barq.http.messages import HTTPRequest
from barq.metrics import (
    Metrics,
    StatsAddressError,
    is_loopback,
    make_stats_app,
    parse_stats_address,
    render_prometheus,
)
from barq.metrics.registry import list_servers, register_server, registry_dir


def get(app, path: str, method: str = "GET", query: str = ""):
    target = path + (f"?{query}" if query else "")
    return app(HTTPRequest(method, target, path, query, "1.1", [("host", "x")]))


def header(response, name: str) -> str | None:
    return next((v for k, v in response.headers if k.lower() == name), None)


@pytest.fixture
def metrics() -> Metrics:
    m = Metrics()
    for index in range(2):
        rec = m.worker(index, f"barq-worker-{index}")
        for i in range(10):
            req = HTTPRequest("GET", "/items/1", "/items/1", "", "1.1", [])
            req.route = "/items/{id}" if i % 5 else None
            rec.request_started(req, 0)
            rec.request_finished(req, 200 if i % 5 else 404, 0, (i + 1) * 300_000, 80, 120, None)
    return m


def test_json_snapshot_at_root_and_stats_json(metrics: Metrics) -> None:
    app = make_stats_app(metrics)
    for path in ("/", "/stats.json"):
        response = get(app, path)
        assert response.status == 200
        assert header(response, "content-type") == "application/json"
        assert header(response, "cache-control") == "no-store"
        data = json.loads(response.body)
        assert data["totals"]["requests"] == 20
        assert [w["requests"] for w in data["workers"]] == [10, 10]
    pretty = get(app, "/stats.json", query="pretty=1").body
    assert pretty.startswith(b"{\n  ")


def test_head_unknown_path_and_wrong_method(metrics: Metrics) -> None:
    app = make_stats_app(metrics)
    head = get(app, "/metrics", method="HEAD")
    assert head.status == 200 and head.body == b""
    missing = get(app, "/admin")
    assert missing.status == 404 and "/metrics" in json.loads(missing.body)["endpoints"]
    post = get(app, "/", method="POST")
    assert post.status == 405 and header(post, "allow") == "GET, HEAD"
    assert get(app, "/healthz").body == b"ok\n"


def test_prometheus_output_parses_with_the_reference_parser(metrics: Metrics) -> None:
    response = get(make_stats_app(metrics), "/metrics")
    assert header(response, "content-type").startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.body.decode())}
    assert families["barq_http_requests"].type == "counter"
    requests = {
        (s.labels["method"], s.labels["route"]): s.value
        for s in families["barq_http_requests"].samples
        if s.name == "barq_http_requests_total"
    }
    assert requests == {("GET", "/items/{id}"): 16, ("GET", "<unmatched>"): 4}
    hist = families["barq_http_request_duration_seconds"]
    assert hist.type == "histogram"
    route_samples = [s for s in hist.samples if s.labels.get("route") == "/items/{id}"]
    buckets = [s for s in route_samples if s.name.endswith("_bucket")]
    values = [s.value for s in buckets]
    assert values == sorted(values)
    assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == 16
    count = next(s for s in route_samples if s.name.endswith("_count"))
    total = next(s for s in route_samples if s.name.endswith("_sum"))
    assert count.value == 16
    assert total.value == pytest.approx(2 * sum((i + 1) * 0.0003 for i in range(10) if i % 5))
    # Durations 0.3 ms .. 3 ms: everything is below the ~5 ms bound, nothing below 0.1 ms.
    by_le = {float(s.labels["le"]): s.value for s in buckets if s.labels["le"] != "+Inf"}
    assert by_le[min(by_le)] == 0
    assert by_le[min(le for le in by_le if le > 0.0045)] == 16
    worker_codes = {
        (s.labels["worker"], s.labels["code"]): s.value
        for s in families["barq_worker_requests"].samples
    }
    assert worker_codes[("barq-worker-0", "2xx")] == 8
    assert worker_codes[("barq-worker-1", "4xx")] == 2
    assert families["barq_info"].samples[0].labels["free_threaded"] in ("true", "false")


def test_prometheus_escapes_label_values() -> None:
    m = Metrics()
    rec = m.worker(0, "w0")
    req = HTTPRequest("GET", "/", "/", "", "1.1", [])
    req.route = '/we"ird\\path\n'
    rec.request_started(req, 0)
    rec.request_finished(req, 200, 0, 5000, 1, 1, None)
    families = list(text_string_to_metric_families(render_prometheus(m.snapshot())))
    routes = {s.labels["route"] for f in families for s in f.samples if "route" in s.labels}
    assert routes == {'/we"ird\\path\n'}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9100", ("127.0.0.1", 9100)),
        (":9100", ("127.0.0.1", 9100)),
        ("9100", ("127.0.0.1", 9100)),
        ("[::1]:9100", ("::1", 9100)),
        ("localhost:0", ("localhost", 0)),
    ],
)
def test_parse_stats_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_stats_address(text) == expected


@pytest.mark.parametrize("text", ["", "host:", "host:port", "::1:80", "1.2.3.4:70000", "[::1]"])
def test_parse_stats_address_rejects_garbage(text: str) -> None:
    with pytest.raises(StatsAddressError):
        parse_stats_address(text)


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.5.5.5")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("10.1.2.3")
    assert not is_loopback("no-such-host.invalid")


def test_registry_lists_live_servers_and_removes_stale_files(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert registry_dir() == tmp_path / "barq" / "servers"
    assert list_servers() == []
    mine = register_server(
        {"pid": os.getpid(), "host": "127.0.0.1", "port": 9100, "url": "http://127.0.0.1:9100"}
    )
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = register_server(
        {"pid": int(dead.stdout), "host": "127.0.0.1", "port": 9101, "url": "http://x:9101"}
    )
    assert oct(mine.stat().st_mode & 0o777) == oct(0o600)
    entries = list_servers()
    assert [e["port"] for e in entries] == [9100]
    assert mine.exists() and not stale.exists()


def test_registry_falls_back_to_cache_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert registry_dir() == tmp_path / ".cache" / "barq" / "servers"
