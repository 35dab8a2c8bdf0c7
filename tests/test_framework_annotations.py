"""Annotations that name classes defined later in the module.

Python 3.14 evaluates annotations only when asked (PEP 649), and any version
with ``from __future__ import annotations`` keeps them as strings: either way a
handler may name a model defined below it. Such a route is compiled again when
the app starts (``build()``: the first request, ``TestClient``, ``barq run``);
a name that still does not exist then is the same clear error as before, at
start, never a silent "no validation".

The modules are written to files and imported, as a user's app is; the PEP 649
one (no future import) runs only on 3.14+, where it is how code is written.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from barq.exceptions import BarqError
from barq.testing import TestClient

LATER_MODELS = """
from barq import Barq, Depends
from pydantic import BaseModel

app = Barq()


def current_user() -> User:
    return User(name="ada")


@app.post("/items")
def create(item: Item, user: User = Depends(current_user)) -> Reply:
    return Reply(name=item.name, by=user.name, tags=len(item.tags))


@app.get("/reply")
def reply() -> Reply:  # the response model is validated and filtered
    return {"name": "x", "by": "y", "tags": 0, "secret": "not sent"}


@app.get("/bad-reply")
def bad_reply() -> Reply:
    return {"name": "x"}


class Item(BaseModel):
    name: str
    tags: list[Tag] = []


class Tag(BaseModel):
    label: str


class User(BaseModel):
    name: str


class Reply(BaseModel):
    name: str
    by: str
    tags: int
"""

MISSING_NAME = """
from barq import Barq

app = Barq()


@app.get("/x")
def handler(item: NoSuchModel) -> dict:
    return {}
"""


def _import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def _check_later_models(app) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    ok = client.post("/items", json={"name": "a", "tags": [{"label": "t"}]})
    assert ok.status_code == 200
    assert ok.json() == {"name": "a", "by": "ada", "tags": 1}
    bad = client.post("/items", json={"name": "a", "tags": [{"nolabel": 1}]})
    assert bad.status_code == 422  # the nested model defined even later validates
    assert bad.json()["detail"][0]["loc"] == ["body", "tags", 0, "label"]
    assert client.get("/reply").json() == {"name": "x", "by": "y", "tags": 0}
    assert client.get("/bad-reply").status_code == 500  # the response model is enforced
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"Item", "Tag", "Reply"} <= set(schemas)


def test_future_annotations_may_name_models_defined_later(tmp_path, monkeypatch) -> None:
    module = _import(
        tmp_path, monkeypatch, "later_future", "from __future__ import annotations\n" + LATER_MODELS
    )
    _check_later_models(module.app)


@pytest.mark.skipif(sys.version_info < (3, 14), reason="PEP 649 deferred annotations: 3.14+")
def test_pep_649_annotations_may_name_models_defined_later(tmp_path, monkeypatch) -> None:
    module = _import(tmp_path, monkeypatch, "later_pep649", LATER_MODELS)
    _check_later_models(module.app)


@pytest.mark.parametrize("future", [True, False], ids=["future-import", "plain"])
def test_a_name_that_never_exists_is_a_clear_error_at_start(
    tmp_path, monkeypatch, future: bool
) -> None:
    source = ("from __future__ import annotations\n" if future else "") + MISSING_NAME
    if not future and sys.version_info < (3, 14):
        # Before 3.14 a plain annotation is evaluated at import: Python's own NameError.
        with pytest.raises(NameError, match="NoSuchModel"):
            _import(tmp_path, monkeypatch, "missing_plain", source)
        return
    module = _import(tmp_path, monkeypatch, f"missing_{future}", source)
    with pytest.raises(BarqError) as info:
        module.app.build()
    message = str(info.value)
    assert "route GET /x (handler)" in message
    assert "name 'NoSuchModel' is not defined" in message


@pytest.mark.parametrize("command", [["run", "--port", "0"], ["routes"]])
def test_the_cli_names_the_missing_annotation_without_a_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "main.py").write_text("from __future__ import annotations\n" + MISSING_NAME)
    cli = Path(sys.executable).with_name("barq")
    result = subprocess.run(
        [str(cli), *command], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "NO_COLOR": "1"},
    )  # fmt: skip
    assert result.returncode != 0
    assert "name 'NoSuchModel' is not defined" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
