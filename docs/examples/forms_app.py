"""docs/forms.md: form fields and file uploads."""

import hashlib
from typing import Annotated

from barq import Barq, File, Form, UploadFile

app = Barq(max_upload_size=5 * 1024 * 1024)  # bigger form bodies get 413


@app.post("/login")
def login(
    username: Annotated[str, Form(min_length=3)],
    password: Annotated[str, Form()],
    remember: Annotated[bool, Form()] = False,
) -> dict:
    return {"user": username, "remember": remember}


@app.post("/upload")
def upload(
    document: UploadFile,
    title: Annotated[str, Form()] = "",
) -> dict:
    digest = hashlib.sha256()
    while chunk := document.read(64 * 1024):
        digest.update(chunk)
    return {
        "title": title,
        "filename": document.filename,
        "content_type": document.content_type,
        "size": document.size,
        "sha256": digest.hexdigest(),
    }


@app.post("/gallery")
def gallery(images: list[UploadFile], note: Annotated[bytes, File()] = b"") -> dict:
    return {"names": [image.filename for image in images], "note": note.decode()}
