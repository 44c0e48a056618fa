# dspex — the two commands a newcomer needs are `make demo` and `make test`.
# Everything they depend on is installed here, idempotently.

CARGO ?= cargo

PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
# Re-run only when what it is made from changed.
VENV_STAMP := $(VENV)/.dspex-installed

# The wire protocol's one source lives in the runtime crate, so that the crate packages on its
# own; the root `proto` is a symlink to it for readers and other languages.
PROTO_ROOT := dspex-runtime/proto
# The Python modules generated from it are committed (an installed package generates nothing);
# `make proto` rewrites them, and `make test` fails when they are out of date.
GENERATE_PROTO = $(VENV_PY) python/tools/generate_proto.py --protos $(PROTO_ROOT) --out python/dspex_bridge/_proto

# Where cargo puts its output, as cargo reports it: CARGO_TARGET_DIR, .cargo/config.toml and
# the rest all move it. Expanded only by the recipes that use it.
TARGET_DIR = $(shell $(CARGO) metadata --format-version 1 --no-deps | \
	$(PYTHON) -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

.PHONY: demo test setup proto proto-check rust-checks python-lint python-tests packaging python-bench bench bench-baseline bench-watch

demo: setup
	$(CARGO) run --example qa

# Rust first (it builds the bridge fixture the Python suite starts), then the Python checks.
test: setup rust-checks
	@$(MAKE) --no-print-directory proto-check python-lint packaging python-tests

# The default build (python), the lean one (variables, macros, Local: no tonic, prost or
# worker code) and the Redis backend are each checked; the tests run with Redis on, against
# redis-servers they start themselves.
rust-checks:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --features dspex/redis -- -D warnings
	$(CARGO) check -p dspex --no-default-features
	$(CARGO) check -p dspex --features redis
	$(CARGO) test --workspace --features dspex/redis

setup: $(VENV_STAMP) redis-server
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust with rustup"; exit 1; }
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

# The Redis tests start their own redis-server (Redis 7, Debian's package). Installed here
# when missing, without leaving the distribution's service running: the tests use only the
# servers they start.
.PHONY: redis-server
redis-server:
	@[ -n "$$DSPEX_REDIS_SERVER" ] || command -v redis-server >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing redis-server (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null && \
	    { systemctl disable --now redis-server >/dev/null 2>&1 || service redis-server stop >/dev/null 2>&1 || true; }; \
	  else \
	    echo "redis-server not found: install Redis 7, e.g. 'sudo apt-get install -y redis-server' (Debian/Ubuntu)"; \
	    echo "or 'brew install redis' (macOS), or set DSPEX_REDIS_SERVER to a redis-server binary"; \
	    exit 1; \
	  fi; }
	@$${DSPEX_REDIS_SERVER:-redis-server} --version

# The project's Python: a venv at the root with dspex_bridge installed editable (+ test and lint deps).
$(VENV_STAMP): python/pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	@test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -e 'python[test]'
	@touch $@

proto: $(VENV_STAMP)
	$(GENERATE_PROTO)

proto-check: $(VENV_STAMP)
	$(GENERATE_PROTO) --check

# The Python is held to the bar of the Rust: lint, formatting and strict types.
python-lint: setup
	$(VENV)/bin/ruff check python
	$(VENV)/bin/ruff format --check python
	$(VENV)/bin/mypy --config-file python/pyproject.toml python/dspex_bridge python/tools

# Both packages install without this Makefile. Every crate packages on its own (--no-verify:
# verifying would rebuild every dependency; --allow-dirty: the contents matter, not the VCS
# state); the wheel built from python/ imports, gRPC modules included, in a fresh venv.
packaging: setup
	$(CARGO) package --workspace --no-verify --allow-dirty --quiet
	$(VENV_PY) python/tools/check_wheel.py

# pytest against a real bridge: the Rust fixture binary the tests start. The suite finds it in
# cargo's target directory itself (dspex_bridge.testing asks `cargo metadata`), so it is not
# passed in here: a run with CARGO_TARGET_DIR set tests that lookup.
python-tests: setup
	$(CARGO) build --example bridge_fixture
	$(VENV_PY) -m pytest python/tests -q

# Python → bridge round trips (get, set, bare Ping) against the release fixture; prints JSON.
python-bench: setup
	$(CARGO) build --release --example bridge_fixture
	DSPEX_BRIDGE_FIXTURE=$(TARGET_DIR)/release/examples/bridge_fixture $(VENV_PY) python/benchmarks/bench_bridge.py

# Python watchers of a Rust writer (50 watchers; flat out, then paced at 1,000 writes a second;
# each way unshared and sharing a stream), against the release fixture; prints JSON.
bench-watch: setup
	$(CARGO) build --release --example bridge_fixture
	DSPEX_BRIDGE_FIXTURE=$(TARGET_DIR)/release/examples/bridge_fixture $(VENV_PY) python/benchmarks/bench_watch.py \
	  --watchers 50 --pause-us 1000 --paced-updates 2000

bench: setup
	$(CARGO) bench --bench variables
	$(CARGO) bench --bench bridge
	$(CARGO) bench --bench modules
	$(CARGO) bench --bench tools
	$(CARGO) bench --bench worker_start
	$(CARGO) bench --features redis --bench redis
	@$(MAKE) --no-print-directory bench-watch
	@$(MAKE) --no-print-directory bench-baseline

# The peer baseline: DSPy Predict in Python, from Rust through PyO3 (embedding the venv's
# CPython), and through dspex; then 1,000 concurrent calls each way. Its own package, outside
# the workspace, built in release here only. Prints a table of medians and p99s.
bench-baseline: setup
	cd benches/pyo3-baseline && PYO3_PYTHON=$(abspath $(VENV_PY)) DSPEX_PYTHON=$(abspath $(VENV_PY)) \
	  $(CARGO) bench --bench baseline
