# The two commands of the README: `make demo` and `make test`. Each installs what it needs first.
.PHONY: setup demo test lint unit

setup:
	@bash tools/setup.sh

demo: setup
	@.venv/bin/lbspeaker demo

lint:
	.venv/bin/ruff check lbspeaker tests bench
	.venv/bin/ruff format --check lbspeaker tests bench
	.venv/bin/mypy lbspeaker

test: setup lint
	.venv/bin/python -m pytest -q -p no:cacheprovider tests

unit: setup
	.venv/bin/python -m pytest -q -p no:cacheprovider -m unit tests
