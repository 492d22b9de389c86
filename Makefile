# glasskey — one command to set up and run the demo, one to set up and pass the tests.
#   make demo      build (release) and tell the whole story on virtual keys + the local Graph emulator
#   make test      install what the tests need, build, run every test (peer interop tests run when the
#                  peers are built: see `make interop`)
#   make interop   build the independent peer authenticators and run the whole suite with them required
#   make hw-test   glasskey's real USB HID path (hidapi, hidraw, CTAPHID) on a real Linux kernel:
#                  QEMU + UHID devices bridged to the peer authenticators (tests/hw/run.sh)
#   make release   the production binary (no rehearsal tools: virtual keys, emulator, demo)
#   make install-rehearsal  also install `glasskey-rehearsal` (the build with those tools)
#   make install   install the production binary, udev rules, shell completions and man page (needs root)
#   make fuzz      coverage-guided fuzzing of every parser, FUZZ_SECONDS per target (docs/fuzzing.md)
#   make fuzz-smoke  every fuzz target briefly, from the committed corpora (CI)
#   make audit     RustSec advisories, offline, against ../shared/advisory-db
#   make deny      licences, duplicate versions and crate sources (deny.toml)

SHELL := /bin/bash
CARGO ?= cargo
PREFIX ?= /usr/local
DEMO_OUT ?= demo-out
PEERS_BUILD ?= ../shared/peers/build.sh
# Debian packages the tests use: PDF rendering and text (poppler-utils), QR decoding (zbar-tools),
# a terminal for the interactive flows (tmux).
TEST_APT := poppler-utils zbar-tools tmux
# The peers' build needs libclang (bindgen), libfido2 and its tools.
PEER_APT := libclang-dev fido2-tools libfido2-dev python3-venv

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build release demo test interop hw-test lint fmt install install-rehearsal lean-check uninstall setup-test setup-peers clean \
	setup-fuzz fuzz fuzz-cmin fuzz-coverage fuzz-smoke setup-audit audit deny

all: build

build:
	$(CARGO) build --locked

# The production binary: without the rehearsal parts (virtual keys, Graph emulator, demo), so
# what meets real keys and a real tenant links none of their crates (docs/decisions.md).
release:
	$(CARGO) build --locked --release --no-default-features

# The demo needs the rehearsal parts (the default features).
demo:
	$(CARGO) build --locked --release
	./target/release/glasskey demo --out $(DEMO_OUT)

# Install Debian packages only when a command they provide is missing.
setup-test:
	@missing=(); command -v pdftoppm >/dev/null || missing+=(poppler-utils); \
	command -v zbarimg >/dev/null || missing+=(zbar-tools); \
	command -v tmux >/dev/null || missing+=(tmux); \
	if [ $${#missing[@]} -gt 0 ]; then \
	  echo "installing $${missing[*]}"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $${missing[@]}; \
	fi

setup-peers:
	@missing=(); ls /usr/lib/llvm-*/lib/libclang.so* /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1 || missing+=(libclang-dev); \
	command -v fido2-token >/dev/null || missing+=(fido2-tools); \
	[ -f /usr/include/fido.h ] || missing+=(libfido2-dev); \
	python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv); \
	if [ $${#missing[@]} -gt 0 ]; then \
	  echo "installing $${missing[*]}"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $${missing[@]}; \
	fi

test: setup-test
	@if [ -z "$${TRUSSED_PEER:-}" ] || [ -z "$${OPENSK_PEER:-}" ] || [ -z "$${PEER_PYTHON:-}" ]; then \
	  echo "*** NOTE: the peer authenticators are not built, so the interop tests will SKIP (cargo hides"; \
	  echo "*** the per-test SKIPPED lines of passing tests). Run 'make interop' to build and require them."; \
	fi
	$(CARGO) test --locked

# The interop suite: builds the peers, exports their locations, and makes a missing peer a failure
# instead of a skip.
interop: setup-test setup-peers
	@test -x $(PEERS_BUILD) || { echo "error: $(PEERS_BUILD) not found (the shared peers live beside the repo)"; exit 2; }
	set -a; eval "$$($(PEERS_BUILD))"; set +a; \
	GLASSKEY_REQUIRE_PEERS=1 $(CARGO) test --locked

# Boots Debian's kernel under QEMU (TCG) with UHID keys bridged to trussed-peer and opensk-peer;
# installs qemu-system-x86, linux-image-amd64 and busybox-static when missing.
hw-test: setup-peers
	$(CARGO) build --locked
	@test -x $(PEERS_BUILD) || { echo "error: $(PEERS_BUILD) not found (the shared peers live beside the repo)"; exit 2; }
	set -a; eval "$$($(PEERS_BUILD))"; set +a; \
	tests/hw/run.sh "$${CARGO_TARGET_DIR:-target}/debug/glasskey"

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) clippy --locked --lib --bins --no-default-features -- -D warnings

fmt:
	$(CARGO) fmt --all

install: release
	$(SUDO) install -Dm755 target/release/glasskey $(DESTDIR)$(PREFIX)/bin/glasskey
	$(SUDO) install -Dm644 udev/70-glasskey-fido.rules $(DESTDIR)/etc/udev/rules.d/70-glasskey-fido.rules
	getent group glasskey >/dev/null || $(SUDO) groupadd --system glasskey || true
	target/release/glasskey completions bash | $(SUDO) install -Dm644 /dev/stdin $(DESTDIR)/usr/share/bash-completion/completions/glasskey
	target/release/glasskey completions zsh | $(SUDO) install -Dm644 /dev/stdin $(DESTDIR)/usr/share/zsh/vendor-completions/_glasskey
	target/release/glasskey completions fish | $(SUDO) install -Dm644 /dev/stdin $(DESTDIR)/usr/share/fish/vendor_completions.d/glasskey.fish
	target/release/glasskey man | $(SUDO) install -Dm644 /dev/stdin $(DESTDIR)$(PREFIX)/share/man/man1/glasskey.1
	-command -v udevadm >/dev/null && $(SUDO) udevadm control --reload-rules && $(SUDO) udevadm trigger --subsystem-match=hidraw

# Builds the production binary and proves the rehearsal tools and their crates are out of it.
lean-check:
	tests/lean/check.sh

# The rehearsal build beside it, under its own name: demo, virtual keys, Graph emulator.
install-rehearsal:
	$(CARGO) build --locked --release
	$(SUDO) install -Dm755 target/release/glasskey $(DESTDIR)$(PREFIX)/bin/glasskey-rehearsal

uninstall:
	$(SUDO) rm -f $(DESTDIR)$(PREFIX)/bin/glasskey $(DESTDIR)$(PREFIX)/bin/glasskey-rehearsal $(DESTDIR)/etc/udev/rules.d/70-glasskey-fido.rules \
	  $(DESTDIR)/usr/share/bash-completion/completions/glasskey $(DESTDIR)/usr/share/zsh/vendor-completions/_glasskey \
	  $(DESTDIR)/usr/share/fish/vendor_completions.d/glasskey.fish $(DESTDIR)$(PREFIX)/share/man/man1/glasskey.1

clean:
	$(CARGO) clean
	rm -rf $(DEMO_OUT)

# ---- fuzzing (docs/fuzzing.md): cargo-fuzz on nightly; the fuzz crate has its own lockfile.
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 4
# libFuzzer limits: a run slower than this is a hang, more memory than this is a finding.
FUZZ_FLAGS ?= -timeout=10 -rss_limit_mb=2048
# Largest input per target: 8 KiB, but an MDS BLOB's header and x5c chain alone take 5 KiB.
fuzz_max_len = $$(case $$t in mds_blob) echo 16384;; *) echo 8192;; esac)
FUZZ_TARGETS := $(shell sed -n 's/^name = "\(.*\)"$$/\1/p' fuzz/Cargo.toml | tail -n +2)
# Release build with debug assertions and overflow checks; no sanitizer (the fuzzed code is
# safe Rust, and ASan would halve the executions on these machines).
FUZZ_BUILD := +nightly fuzz build --sanitizer none --debug-assertions

CARGO_FUZZ_VERSION ?= 0.13.2
setup-fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz@$(CARGO_FUZZ_VERSION)
	@rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal

# Long campaign: one target at a time at low priority; new inputs grow fuzz/corpus-work/
# (minimise into fuzz/corpus/ with `make fuzz-cmin`). A finding does not stop the campaign: every
# target runs, each line of the summary gives its executions, coverage and outcome, and the
# make fails at the end if any target found something (fuzz/artifacts/<target>/).
fuzz: setup-fuzz
	cd fuzz && $(CARGO) $(FUZZ_BUILD)
	@mkdir -p fuzz/corpus-work fuzz/logs
	@failed=(); for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus-work/$$t; \
	  (cd fuzz && nice -n 19 $(CARGO) $(FUZZ_BUILD:build=run) $$t corpus-work/$$t corpus/$$t -- \
	    $(FUZZ_FLAGS) -max_len=$(fuzz_max_len) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1) > fuzz/logs/$$t.log 2>&1 \
	    && outcome=ok || { outcome="FOUND (fuzz/logs/$$t.log, fuzz/artifacts/$$t/)"; failed+=($$t); }; \
	  printf '%-22s execs %-11s %s  %s\n' $$t \
	    "$$(grep -o 'number_of_executed_units: [0-9]*' fuzz/logs/$$t.log | tail -1 | grep -o '[0-9]*$$')" \
	    "$$(grep -oE 'cov: [0-9]+ ft: [0-9]+' fuzz/logs/$$t.log | tail -1)" "$$outcome"; \
	done; \
	[ $${#failed[@]} -eq 0 ] || { echo "!! findings in: $${failed[*]}"; exit 1; }

# Minimise each campaign corpus together with the committed seeds back into fuzz/corpus/.
fuzz-cmin: setup-fuzz
	@for t in $(FUZZ_TARGETS); do \
	  [ -d fuzz/corpus-work/$$t ] || continue; \
	  cp -n fuzz/corpus-work/$$t/* fuzz/corpus/$$t/ 2>/dev/null || true; \
	  (cd fuzz && $(CARGO) $(FUZZ_BUILD:build=cmin) $$t corpus/$$t -- -max_len=$(fuzz_max_len)) > fuzz/logs/$$t.cmin.log 2>&1 \
	    || { echo "!! cmin of $$t failed: fuzz/logs/$$t.cmin.log"; exit 1; }; \
	  echo "$$t: $$(ls fuzz/corpus/$$t | wc -l) inputs, $$(du -sk fuzz/corpus/$$t | cut -f1) KiB"; \
	done

# Line coverage of src/ under the committed corpora (nightly llvm-cov; fuzz/coverage.sh).
fuzz-coverage:
	fuzz/coverage.sh

# CI: every target for FUZZ_SMOKE_SECONDS from the committed corpus (into a scratch copy,
# so the tree stays clean). A crash fails the build and names the artifact.
fuzz-smoke: setup-fuzz
	cd fuzz && $(CARGO) $(FUZZ_BUILD)
	@set -e; work=$$(mktemp -d); trap 'rm -rf "$$work"' EXIT; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $$work/$$t; \
	  (cd fuzz && $(CARGO) $(FUZZ_BUILD:build=run) $$t $$work/$$t corpus/$$t -- \
	    $(FUZZ_FLAGS) -max_len=$(fuzz_max_len) -max_total_time=$(FUZZ_SMOKE_SECONDS) -print_final_stats=1) > $$work/$$t.log 2>&1 \
	    || { tail -40 $$work/$$t.log; echo "!! fuzz target $$t failed (artifact under fuzz/artifacts/$$t/)"; exit 1; }; \
	  printf '%-22s %s\n' $$t "$$(grep -o 'number_of_executed_units: [0-9]*' $$work/$$t.log | tail -1)"; \
	done

# ---- supply chain: RustSec advisories offline, licences/bans/sources with cargo-deny.
ADVISORY_DB ?= ../shared/advisory-db
# Pinned: the versions these checks were last reviewed with (and built here).
CARGO_AUDIT_VERSION ?= 0.22.2
CARGO_DENY_VERSION ?= 0.20.2
setup-audit:
	@command -v cargo-audit >/dev/null || $(CARGO) install --locked cargo-audit@$(CARGO_AUDIT_VERSION)
	@command -v cargo-deny >/dev/null || $(CARGO) install --locked cargo-deny@$(CARGO_DENY_VERSION)

# Advisory ignores live in deny.toml (one reviewed file, each with its reason).
audit: setup-audit
	@test -d $(ADVISORY_DB)/crates || { echo "error: no advisory database at $(ADVISORY_DB)"; exit 2; }
	$(CARGO) audit --db $(ADVISORY_DB) --no-fetch --deny warnings \
	  $$(sed -n '/^\[advisories\]/,/^\[/p' deny.toml | grep -o '"RUSTSEC-[0-9-]*"' | tr -d '"' | sed 's/^/--ignore /')
	cd fuzz && $(CARGO) audit --db ../$(ADVISORY_DB) --no-fetch --deny warnings \
	  $$(sed -n '/^\[advisories\]/,/^\[/p' ../deny.toml | grep -o '"RUSTSEC-[0-9-]*"' | tr -d '"' | sed 's/^/--ignore /')

deny: setup-audit
	$(CARGO) deny --locked check bans licenses sources
