# Socai — build, test, run and benchmark.
# `make test` and `make run` work on a fresh machine: they install the three
# system libraries Socai links against when pkg-config cannot find them.

SWIFT ?= swift
SYSTEM_PACKAGES := libsodium-dev libsqlite3-dev libssl-dev pkg-config

.PHONY: deps build test run bench lint clean localnet localnet-reset

# Install libsodium, SQLite and OpenSSL (libcrypto, for SHA-256) headers and pkg-config
# only when they are missing.
deps:
	@if ! pkg-config --exists libsodium sqlite3 libcrypto 2>/dev/null; then \
		echo "socai: installing $(SYSTEM_PACKAGES)"; \
		SUDO=""; if [ "$$(id -u)" != "0" ]; then SUDO="sudo"; fi; \
		$$SUDO apt-get update && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $(SYSTEM_PACKAGES); \
	fi

build: deps
	$(SWIFT) build

# `swift build --build-tests` first, so the `socai` executable the end-to-end
# tests start as a child process is built before any test runs.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# Starts the 4-validator local network from Genesis/ and Nodes/ (one process per node),
# prints each node's API address, and stops them all on Ctrl-C.
run: build
	$(SWIFT) run socai localnet status --genesis Genesis/localnet.json --nodes Nodes
	scripts/localnet.sh

# Wipes the local network's chain data (keys and configuration stay).
localnet-reset:
	rm -rf Nodes/node*/data

# Regenerates the committed test-only local network (new keys every time).
localnet: build
	$(SWIFT) run socai genesis init --validators 4 --chain-id socai-localnet --out Genesis/localnet.json --nodes Nodes --force

# The network benchmark starts release builds of four validators, so `socai` is built first.
bench: deps
	$(SWIFT) build -c release --product socai
	cd Benchmarks && SOCAI_BINARY=../.build/release/socai $(SWIFT) run -c release SocaiBenchmarks

lint:
	$(SWIFT) format lint --recursive Sources Tests Benchmarks/Sources

clean:
	rm -rf .build Benchmarks/.build
