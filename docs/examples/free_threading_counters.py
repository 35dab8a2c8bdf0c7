"""Free-threading: shared state that stays correct when handlers run in parallel."""

import threading
from collections import Counter

from barq import Barq

app = Barq()

# Shared and mutable: guard every read-modify-write with a lock.
visits: Counter[str] = Counter()
visits_lock = threading.Lock()

# Per thread: each worker thread gets its own object, no lock needed.
local = threading.local()


def thread_buffer() -> list[str]:
    if not hasattr(local, "buffer"):
        local.buffer = []
    return local.buffer


@app.post("/visit/{page}")
def visit(page: str) -> dict:
    with visits_lock:
        visits[page] += 1
        count = visits[page]
    thread_buffer().append(page)  # this thread's list: safe without a lock
    return {"page": page, "count": count}


@app.get("/visits")
def all_visits() -> dict:
    with visits_lock:
        return dict(visits)
