# glasskey — one command to set up and run the demo, one to set up and pass the tests.
#   make demo      build (release) and tell the whole story on virtual keys + the local Graph emulator
#   make test      install what the tests need, build, run every test (peer interop tests run when the
#                  peers are built: see `make interop`)
#   make interop   build the independent peer authenticators and run the whole suite with them required
#   make hw-test   glasskey's real USB HID path (hidapi, hidraw, CTAPHID) on a real Linux kernel:
#                  QEMU + UHID devices bridged to the peer authenticators (tests/hw/run.sh)
#   make install   install the binary, udev rules, shell completions and man page (needs root)

SHELL := /bin/bash
CARGO ?= cargo
PREFIX ?= /usr/local
DEMO_OUT ?= demo-out
PEERS_BUILD ?= ../shared/peers/build.sh
# Debian packages the tests use: PDF rendering and text (poppler-utils), QR decoding (zbar-tools).
TEST_APT := poppler-utils zbar-tools
# The peers' build needs libclang (bindgen), libfido2 and its tools.
PEER_APT := libclang-dev fido2-tools libfido2-dev python3-venv

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build release demo test interop hw-test lint fmt install uninstall setup-test setup-peers clean

all: build

build:
	$(CARGO) build --locked

release:
	$(CARGO) build --locked --release

demo: release
	./target/release/glasskey demo --out $(DEMO_OUT)

# Install Debian packages only when a command they provide is missing.
setup-test:
	@missing=(); command -v pdftoppm >/dev/null || missing+=(poppler-utils); \
	command -v zbarimg >/dev/null || missing+=(zbar-tools); \
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

uninstall:
	$(SUDO) rm -f $(DESTDIR)$(PREFIX)/bin/glasskey $(DESTDIR)/etc/udev/rules.d/70-glasskey-fido.rules \
	  $(DESTDIR)/usr/share/bash-completion/completions/glasskey $(DESTDIR)/usr/share/zsh/vendor-completions/_glasskey \
	  $(DESTDIR)/usr/share/fish/vendor_completions.d/glasskey.fish $(DESTDIR)$(PREFIX)/share/man/man1/glasskey.1

clean:
	$(CARGO) clean
	rm -rf $(DEMO_OUT)
