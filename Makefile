# The two set-up commands (see README.md):
#   make demo   install into .venv, scaffold a demo app and serve it with `barq dev`
#   make test   the whole suite: lint, docs, pytest on GIL and free-threaded CPython
.PHONY: demo test bench clean

demo:
	scripts/demo

test:
	scripts/test

bench:
	scripts/bench

clean:
	rm -rf .venv .venv-ft .venv-bench build dist site demo .pytest_cache .mypy_cache .ruff_cache
