"""Tutorial, middleware: function middleware, classes, CORS and GZip."""

import time

from barq import (
    Barq,
    BaseHTTPMiddleware,
    CORSMiddleware,
    GZipMiddleware,
    Middleware,
    Request,
    Response,
)
from barq.middleware.base import CallNext


class RequestIdMiddleware(BaseHTTPMiddleware):
    def dispatch(self, request: Request, call_next: CallNext) -> Response:
        request_id = request.headers.get("x-request-id") or "generated"
        request.state.request_id = request_id
        response = call_next(request)
        response.headers["x-request-id"] = request_id
        return response


app = Barq(
    middleware=[
        Middleware(CORSMiddleware, allow_origins=["https://example.com"], allow_methods=["*"]),
        Middleware(GZipMiddleware, minimum_size=500),
    ]
)
app.add_middleware(RequestIdMiddleware)  # added last: runs first


@app.middleware("http")
def timing(request: Request, call_next: CallNext) -> Response:
    start = time.perf_counter()
    response = call_next(request)
    response.headers["server-timing"] = f"app;dur={(time.perf_counter() - start) * 1000:.2f}"
    return response


@app.get("/report")
def report(request: Request) -> dict:
    return {"request_id": request.state.request_id, "rows": ["data"] * 200}
