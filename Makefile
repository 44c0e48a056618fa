# dspex — the two commands a newcomer needs are `make demo` and `make test`.
# Everything they depend on is installed here, idempotently.

CARGO ?= cargo

.PHONY: demo test setup rust-checks bench

demo: setup
	$(CARGO) run --release --example quickstart

test: setup rust-checks

rust-checks:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace

setup:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust with rustup"; exit 1; }
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

bench:
	$(CARGO) bench --bench variables
