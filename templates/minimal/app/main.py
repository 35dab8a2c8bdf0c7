"""{{ project_name }}: a small Barq application."""

from pydantic import BaseModel

from barq import Barq, Depends

app = Barq(title="{{ project_name }}")


class Greeting(BaseModel):
    """A greeting sent by a client."""

    name: str
    excited: bool = False


def get_greeting_word() -> str:
    """A dependency: the word every greeting starts with."""
    return "Hello"


@app.get("/")
def index() -> dict:
    return {"message": "Hello from {{ project_name }}"}


@app.get("/hello/{name}")
def hello(name: str, word: str = Depends(get_greeting_word)) -> dict:
    return {"message": f"{word}, {name}"}


@app.post("/greetings", status_code=201)
def create_greeting(greeting: Greeting, word: str = Depends(get_greeting_word)) -> dict:
    ending = "!" if greeting.excited else "."
    return {"message": f"{word}, {greeting.name}{ending}"}
