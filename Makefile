# dspex — the two commands a newcomer needs are `make demo` and `make test`.
# Everything they depend on is installed here, idempotently.

CARGO ?= cargo

PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
PROTOS := $(shell find proto -name '*.proto' 2>/dev/null | sort)
PY_PROTO_DIR := python/dspex_bridge/_proto
# Re-run only when what they are made from changed.
VENV_STAMP := $(VENV)/.dspex-installed
PROTO_STAMP := $(PY_PROTO_DIR)/.generated

.PHONY: demo test setup rust-checks python-tests python-bench bench

demo: setup
	$(CARGO) run --example qa

test: setup rust-checks
	@$(MAKE) --no-print-directory python-tests

rust-checks:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace

setup: $(PROTO_STAMP)
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust with rustup"; exit 1; }
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

# The project's Python: a venv at the root with dspex_bridge installed editable (+ test deps).
$(VENV_STAMP): python/pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	@test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -e 'python[test]'
	@touch $@

# The gRPC modules of every .proto under proto/, generated with grpcio-tools.
$(PROTO_STAMP): $(VENV_STAMP) $(PROTOS)
	@rm -rf $(PY_PROTO_DIR) && mkdir -p $(PY_PROTO_DIR)
	$(VENV_PY) -m grpc_tools.protoc -I proto --python_out=$(PY_PROTO_DIR) \
		--grpc_python_out=$(PY_PROTO_DIR) --pyi_out=$(PY_PROTO_DIR) $(PROTOS)
	@touch $@

# pytest against a real bridge: the Rust fixture binary the tests start.
python-tests: setup
	$(CARGO) build --example bridge_fixture
	$(VENV_PY) -m pytest python/tests -q

# Python → bridge round trips (get, set, bare Ping) against the release fixture; prints JSON.
python-bench: setup
	$(CARGO) build --release --example bridge_fixture
	DSPEX_BRIDGE_FIXTURE=target/release/examples/bridge_fixture $(VENV_PY) python/benchmarks/bench_bridge.py

bench: setup
	$(CARGO) bench --bench variables
	$(CARGO) bench --bench bridge
	$(CARGO) bench --bench modules
