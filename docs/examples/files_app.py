"""docs/files.md: file downloads and a static directory."""

from pathlib import Path

from barq import Barq, FileResponse, HTTPException
from barq.staticfiles import StaticFiles

HERE = Path(__file__).parent
PUBLIC = HERE / "public"

app = Barq()
app.mount("/static", StaticFiles(directory=PUBLIC, html=True))


@app.get("/reports/{name}")
def report(name: str) -> FileResponse:
    path = PUBLIC / "reports" / f"{name}.csv"
    if name not in {"q1", "q2"} or not path.is_file():
        raise HTTPException(404, "No such report")
    return FileResponse(path, filename=f"Bericht {name} – Übersicht.csv")
