"""Autobahn|Testsuite's fuzzing client against a Barq echo endpoint (RFC 6455
conformance): every case OK, NON-STRICT or INFORMATIONAL, none FAILED.

The suite runs on Python 2.7 (pyenv's on these machines); skipped, with the
reason, where there is none. The quick set (sections 1-10 and the first cases
of each compression section, ~1 minute) runs here, on the free-threaded pass;
``python scripts/autobahn.py`` runs every case (docs/websockets.md has the table).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from barq.runtime import free_threaded_build

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from autobahn import find_python2  # noqa: E402

pytestmark = pytest.mark.timeout(900)


@pytest.mark.skipif(not free_threaded_build(), reason="runs in the free-threaded test pass")
@pytest.mark.skipif(find_python2(None) is None, reason="no Python 2.7 for autobahntestsuite")
def test_autobahn_fuzzing_client_finds_no_failure(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "autobahn.py"), "--quick", "--json", str(out),
         "--timeout", "600"],
        capture_output=True, text=True, timeout=840, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads(out.read_text())
    assert len(results) > 300
    assert {r["behavior"] for r in results.values()} <= {"OK", "NON-STRICT", "INFORMATIONAL"}
    compression = [case for case in results if case.startswith(("12.", "13."))]
    assert len(compression) == 36  # permessage-deflate is implemented, not skipped
