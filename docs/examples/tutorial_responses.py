"""Tutorial, responses: return values, response models, response classes, cookies."""

from pydantic import BaseModel

from barq import (
    Barq,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)

app = Barq()


class UserIn(BaseModel):
    name: str
    password: str


class UserOut(BaseModel):
    name: str


@app.get("/data")
def data() -> dict:
    return {"answer": 42}  # dicts, lists, models, dataclasses become JSON


@app.post("/users", response_model=UserOut, status_code=201)
def create_user(user: UserIn) -> UserIn:
    return user  # filtered through UserOut: the password is not sent


@app.get("/hello", response_class=HTMLResponse)
def hello() -> str:
    return "<h1>Hello</h1>"


@app.get("/robots.txt")
def robots() -> PlainTextResponse:
    return PlainTextResponse("User-agent: *\nDisallow:\n")


@app.get("/old-data")
def old_data() -> RedirectResponse:
    return RedirectResponse("/data", status_code=308)


@app.get("/teapot")
def teapot() -> JSONResponse:
    return JSONResponse({"short": "stout"}, status_code=418, headers={"x-pot": "1"})


@app.post("/login")
def login(response: Response) -> dict:
    # Ask for a Response parameter to set headers and cookies on the answer.
    response.set_cookie("session", "abc123", httponly=True, max_age=3600)
    response.headers["cache-control"] = "no-store"
    return {"logged_in": True}


sent_emails: list[str] = []


@app.post("/signup")
def signup(email: str) -> Response:
    # background runs after the response has been sent, on the same worker thread.
    return JSONResponse({"ok": True}, status_code=202, background=lambda: sent_emails.append(email))
