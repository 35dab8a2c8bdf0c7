# The two set-up commands (see README.md):
#   make demo   install into .venv, scaffold a demo app and serve it with `barq dev`
#   make test   the whole suite: lint, docs, pytest on GIL and free-threaded CPython
#   make test-all   make test, then pytest on the other supported Pythons (3.12-3.15)
.PHONY: demo test test-all bench clean

demo:
	scripts/demo

test:
	scripts/test

test-all: test
	scripts/test-matrix

bench:
	scripts/bench

clean:
	rm -rf .venv .venv-ft .venv-3.1[2-9] .venv-bench build dist site demo .pytest_cache .mypy_cache .ruff_cache
