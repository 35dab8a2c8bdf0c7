"""Free-threading: report the interpreter's GIL state from your own code."""

from barq.runtime import describe_interpreter, free_threaded_build, gil_enabled

print(describe_interpreter())  # e.g. "CPython 3.13.5 free-threaded, GIL off"
if free_threaded_build() and gil_enabled():
    print("an extension turned the GIL back on: handlers will not run in parallel")
