#!/usr/bin/env bash
# The production build (no `rehearsal` feature): builds it, proves the rehearsal tools are out
# of it (no demo, no emulator, no virtual keys; --virtual refused with its next step), and
# prints its size and its normal dependency count beside the rehearsal build's.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo=${CARGO:-cargo}
bin=${CARGO_TARGET_DIR:-target}/release/glasskey
crates() { $cargo tree --locked -e normal --prefix none "$@" | sed -E 's/ \(\*\)$//; s/ \(proc-macro\)//; s/ \(\/.*\)$//' | sort -u | wc -l; }

$cargo build --locked --release --no-default-features
size=$(stat -c %s "$bin")
fail() { echo "lean-check: $*" >&2; exit 1; }

for cmd in "demo" "graph emulator" "keys virtual-create"; do
  # shellcheck disable=SC2086
  if "$bin" $cmd --help >/dev/null 2>&1; then fail "the production build still offers '$cmd'"; fi
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
set +e
USER=ci "$bin" --kit "$tmp" --virtual "$tmp" keys list >"$tmp/out" 2>&1
rc=$?
set -e
[ "$rc" = 2 ] || fail "--virtual on the production build exited $rc, not 2: $(cat "$tmp/out")"
grep -q "rehearsal tool" "$tmp/out" || fail "--virtual was not refused as a rehearsal tool: $(cat "$tmp/out")"
for crate in webauthn-rs-core rcgen rsa; do
  if [ -n "$($cargo tree --locked -e normal --no-default-features -i "$crate" 2>/dev/null)" ]; then
    fail "the production build still depends on $crate"
  fi
done
echo "production build: $size bytes, $(crates --no-default-features) crates (normal dependencies, glasskey included)"
echo "rehearsal build:  $(crates) crates"
