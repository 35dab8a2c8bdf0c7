"""The Markdown rendering of benchmark results (what docs/benchmarks.md publishes)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import markdown

RESULT = {
    "started": "2026-11-26T08:00:00+00:00",
    "elapsed_s": 61.2,
    "machine": {
        "cpu": "Test CPU",
        "cores": 2,
        "memory_gib": 23.6,
        "platform": "Linux-x",
        "wrk": "wrk 4.1.0 [epoll] Copyright (C) 2012 Will Glozer",
    },
    "runtimes": {
        "barq-ft/2": {
            "python": "3.13.5",
            "implementation": "CPython",
            "free_threaded_build": True,
            "gil_enabled": False,
        },
    },
    "runs": [
        {
            "scenario": "small-json",
            "connections": 100,
            "contender": "barq-ft",
            "label": "Barq (free-threaded, 2 threads)",
            "parallelism": 2,
            "requests_per_s": 34086.0,
            "ratio_vs_baseline": 3.32,
            "peak_rss_mib": 39.7,
            "wrk": {"p50_ms": 2.85, "p99_ms": 4.39, "socket_error_total": 0, "non_2xx": 0},
            "error": None,
        },
        {
            "scenario": "cpu",
            "connections": 64,
            "contender": "uvicorn-1",
            "label": "FastAPI + uvicorn (1 worker)",
            "parallelism": 1,
            "requests_per_s": 0,
            "error": "server died",
        },
    ],
    "scaling": [
        {
            "contender": "barq-ft",
            "label": "Barq (free-threaded, 1 threads)",
            "parallelism": 1,
            "requests_per_s": 120.0,
        },
        {
            "contender": "barq-ft",
            "label": "Barq (free-threaded, 2 threads)",
            "parallelism": 2,
            "requests_per_s": 230.0,
        },
    ],
    "checks": [
        {"name": "small JSON @100", "target": "≥ 3.0×", "measured": "3.32×", "passed": True}
    ],
}


def test_markdown_tables(tmp_path: Path, capsys) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(RESULT))
    assert markdown.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "| CPU | Test CPU, 2 cores |" in out
    assert "CPython 3.13.5 (free-threaded, GIL off)" in out
    assert (
        "| small-json | 100 | Barq (free-threaded, 2 threads) | 34,086 | 3.32× | 2.85 | 4.39 |"
        in out
    )
    assert "failed: server died" in out
    assert "| Barq free-threaded (threads) | 120 | 230 |" in out
    assert "| small JSON @100 | ≥ 3.0× | 3.32× | PASS |" in out


def test_markdown_bad_file(tmp_path: Path, capsys) -> None:
    assert markdown.main([str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
