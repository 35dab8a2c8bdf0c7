"""Tutorial, errors: HTTPException, custom exception handlers, validation errors."""

from barq import Barq, HTTPException, JSONResponse, Request, RequestValidationError

app = Barq()

STOCK = {"pen": 3}


class OutOfStock(Exception):
    def __init__(self, item: str) -> None:
        self.item = item


@app.exception_handler(OutOfStock)
def out_of_stock(request: Request, exc: OutOfStock) -> JSONResponse:
    return JSONResponse({"error": f"{exc.item} is sold out"}, status_code=409)


@app.exception_handler(404)
def not_found(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"error": "not found", "path": request.path}, status_code=404)


@app.exception_handler(RequestValidationError)
def bad_input(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = [".".join(str(part) for part in error["loc"]) for error in exc.errors()]
    return JSONResponse({"error": "invalid input", "fields": fields}, status_code=400)


@app.get("/stock/{item}")
def stock(item: str) -> dict:
    if item not in STOCK:
        raise HTTPException(404)
    return {"item": item, "count": STOCK[item]}


@app.post("/orders")
def order(item: str, count: int) -> dict:
    if STOCK.get(item, 0) < count:
        raise OutOfStock(item)
    return {"ordered": count}


@app.get("/boom")
def boom() -> dict:
    raise RuntimeError("a bug")  # logged with its traceback; the client gets a 500
