"""Autobahn|Testsuite's fuzzing client against a Barq WebSocket echo endpoint.

The test suite (autobahntestsuite on PyPI) runs on Python 2.7: this script finds
one (``--python2``, else ``python2.7`` on PATH, else pyenv's), installs the suite
once into ``~/.cache/barq/autobahn`` (``pip install --target``), serves an echo
endpoint with Barq on this interpreter, runs the cases and prints a table of the
outcomes. Exit status 0 when no case FAILED, 1 otherwise, 2 when Python 2.7 or
the suite cannot be had.

    python scripts/autobahn.py            # every case (compression ones take ~15 min)
    python scripts/autobahn.py --quick    # all but the long compression runs (~1 min)
    python scripts/autobahn.py --json results.json --markdown
"""

from __future__ import annotations

import argparse
import collections
import fcntl
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "barq" / "autobahn"
SUITE_VERSION = "25.10.1"
#: Sections 1-10: framing, pings, reserved bits, opcodes, fragmentation, UTF-8,
#: closing, limits and performance; the first three cases of each compression
#: section (12: permessage-deflate messages, 13: its parameters).
#: (The suite's patterns are unanchored regular expressions: "12.*.1" would also
#: match 12.1.10-12.1.18, so the compression cases are named one by one.)
QUICK_CASES = [
    *(f"{section}.*" for section in (1, 2, 3, 4, 5, 6, 7, 9, 10)),
    *(f"12.{group}.{n}" for group in range(1, 6) for n in (1, 2, 3)),
    *(f"13.{group}.{n}" for group in range(1, 8) for n in (1, 2, 3)),
]
PASSING = ("OK", "NON-STRICT", "INFORMATIONAL")


def find_python2(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    found = shutil.which("python2.7")
    if found:
        probe = subprocess.run([found, "-c", "import sys"], capture_output=True, check=False)
        if probe.returncode == 0:  # a pyenv shim without the version answers non-zero
            return found
    candidates = sorted(
        glob.glob(str(Path.home() / ".pyenv" / "versions" / "2.7*" / "bin" / "python"))
    )
    return candidates[-1] if candidates else None


def ensure_suite(python2: str) -> Path:
    """The folder the suite is installed in (installed on first use, under a lock)."""
    target = CACHE / f"autobahntestsuite-{SUITE_VERSION}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "autobahntestsuite").is_dir():
            return target
        partial = Path(tempfile.mkdtemp(prefix="install-", dir=CACHE))
        result = subprocess.run(
            [python2, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--target", str(partial), f"autobahntestsuite=={SUITE_VERSION}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise RuntimeError(f"pip could not install autobahntestsuite:\n{result.stderr[-3000:]}")
        partial.rename(target)
    return target


def echo_app() -> Any:
    from barq import Barq, WebSocket

    app = Barq()

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if "text" in message:
                await ws.send_text(message["text"])
            else:
                await ws.send_bytes(message["bytes"])

    return app


def run(
    python2: str, suite: Path, cases: list[str], workdir: Path, timeout: float
) -> dict[str, Any]:
    from barq.server import Server, ServerConfig

    server = Server(
        echo_app(),
        ServerConfig(
            host="127.0.0.1",
            port=0,
            threads=2,
            install_signal_handlers=False,
            ws_max_message_bytes=64 * 1024 * 1024,  # case 9.x sends 16 MiB messages
        ),
    )
    server.start()
    try:
        port = server.addresses[0][1]
        spec = {
            "outdir": str(workdir / "reports"),
            "servers": [{"agent": "barq", "url": f"ws://127.0.0.1:{port}/echo"}],
            "cases": cases,
            "exclude-cases": [],
            "exclude-agent-cases": {},
        }
        (workdir / "fuzzingclient.json").write_text(json.dumps(spec))
        launcher = (
            "import site, sys; site.addsitedir(sys.argv[1]); "
            "sys.argv = ['wstest', '-m', 'fuzzingclient', '-s', 'fuzzingclient.json']; "
            "from autobahntestsuite import wstest; wstest.run()"
        )
        result = subprocess.run(
            [python2, "-c", launcher, str(suite)],
            cwd=workdir, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        index = workdir / "reports" / "index.json"
        data = json.loads(index.read_text()) if index.exists() else {}
        if "barq" not in data:
            raise RuntimeError(f"the fuzzing client produced no report:\n{result.stdout[-3000:]}")
        return dict(data["barq"])
    finally:
        server.stop()


def summarize(results: dict[str, Any]) -> tuple[collections.Counter[str], list[str]]:
    counts: collections.Counter[str] = collections.Counter()
    failed = []
    for case, outcome in sorted(results.items(), key=lambda kv: [int(p) for p in kv[0].split(".")]):
        behavior, close = outcome["behavior"], outcome["behaviorClose"]
        counts[behavior] += 1
        if behavior not in PASSING or close not in PASSING:
            failed.append(f"{case}: {behavior} (close: {close})")
    return counts, failed


def markdown(results: dict[str, Any]) -> str:
    sections: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for case, outcome in results.items():
        sections[case.split(".")[0]][outcome["behavior"]] += 1
    names = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
    lines = ["| section | cases | " + " | ".join(names) + " |",
             "| --- | ---: | " + " | ".join("---:" for _ in names) + " |"]  # fmt: skip
    for section in sorted(sections, key=int):
        c = sections[section]
        lines.append(
            f"| {section} | {sum(c.values())} | " + " | ".join(str(c[n]) for n in names) + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python2", help="a Python 2.7 interpreter")
    parser.add_argument("--quick", action="store_true", help="skip the long compression cases")
    parser.add_argument("--cases", nargs="*", help="case patterns (default: all, or --quick's)")
    parser.add_argument("--json", type=Path, help="write the outcome of every case here")
    parser.add_argument("--markdown", action="store_true", help="print a table per section")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds for the whole run")
    args = parser.parse_args(argv)
    python2 = find_python2(args.python2)
    if python2 is None:
        print("no Python 2.7 found (--python2, python2.7 on PATH, or pyenv's)", file=sys.stderr)
        return 2
    try:
        suite = ensure_suite(python2)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 2
    cases = args.cases or (QUICK_CASES if args.quick else ["*"])
    with tempfile.TemporaryDirectory(prefix="barq-autobahn-") as folder:
        try:
            results = run(python2, suite, cases, Path(folder), args.timeout)
        except subprocess.TimeoutExpired:
            print(f"the fuzzing client did not finish within {args.timeout:.0f} s", file=sys.stderr)
            return 1
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 1
    counts, failed = summarize(results)
    print(f"Autobahn|Testsuite {SUITE_VERSION}: {len(results)} cases: "
          + ", ".join(f"{n} {k}" for k, n in counts.most_common()))  # fmt: skip
    if args.markdown:
        print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    for line in failed:
        print("FAILED", line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
