#!/usr/bin/env bash
# Line coverage of glasskey's parsers under the fuzz corpora: replays fuzz/corpus (and
# fuzz/regressions) through the fuzz harness (tests/fuzz_regressions.rs) in a build
# instrumented with -C instrument-coverage, and reports per source folder with llvm-cov.
# Run `make fuzz` then `make fuzz-cmin` first so the corpora hold what the campaign reached.
# Uses the nightly toolchain's llvm-tools (rustup component llvm-tools-preview).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${COVERAGE_TARGET_DIR:-target/coverage}
tools=$(rustc +nightly --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin
[ -x "$tools/llvm-cov" ] || rustup component add --toolchain nightly llvm-tools-preview
prof=$(mktemp -d); trap 'rm -rf "$prof"' EXIT

RUSTFLAGS="-C instrument-coverage" CARGO_TARGET_DIR=$target \
  cargo +nightly test --locked --test fuzz_regressions --no-run 2>&1 | tail -1
bin=$(RUSTFLAGS="-C instrument-coverage" CARGO_TARGET_DIR=$target \
  cargo +nightly test --locked --test fuzz_regressions --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*fuzz_regressions[^"]*\)".*/\1/p' | tail -1)
LLVM_PROFILE_FILE="$prof/%p-%m.profraw" "$bin" --test-threads 1 >/dev/null
"$tools/llvm-profdata" merge -sparse "$prof"/*.profraw -o "$prof/all.profdata"
report() {
  "$tools/llvm-cov" report "$bin" -instr-profile="$prof/all.profdata" \
    -ignore-filename-regex='(\.cargo/registry|rustc/|/tests/|/fuzz/)' "$@"
}
echo "line coverage under the fuzz corpora, per folder (lines covered / lines):"
report | awk '$1 ~ /\.rs$/ {
    # llvm-cov strips the common prefix: "ctap/pin.rs", "aaguid.rs". Group by folder.
    n = split($1, parts, "/"); dir = (n > 1) ? "src/" parts[1] : "src/" $1;
    # columns: Filename Regions Missed Cover Functions Missed Executed Lines Missed Cover ...
    lines[dir] += $8; missed[dir] += $9; all += $8; allmissed += $9 }
  END { for (d in lines) printf "  %-28s %6d / %6d  %5.1f %%\n", d, lines[d] - missed[d], lines[d], 100 * (lines[d] - missed[d]) / lines[d];
        printf "  %-28s %6d / %6d  %5.1f %%\n", "(all of src)", all - allmissed, all, 100 * (all - allmissed) / all }' | sort
