# `make check` is what CI runs: lint, types, tests. Everything goes through ./run, which
# creates the virtual environment on first use.
.PHONY: check lint test demo
check:
	./run check
lint:
	./run lint
test:
	./run test
demo:
	./run demo
