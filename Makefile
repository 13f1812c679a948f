# The two commands of the README: `make demo` and `make test`. Each installs what it needs first.
# `make image` builds the container image (docs/real-nodes.md); `make nodes` runs the real-node tier.
.PHONY: setup demo test lint unit image nodes

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

image: setup
	@bash tools/build-image.sh

nodes: setup
	.venv/bin/python -m pytest -q -p no:cacheprovider -m nodes tests
