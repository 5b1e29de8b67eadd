#!/usr/bin/env bash
# Fuzzing stage: every cargo-fuzz target in fuzz/ runs for FUZZ_SECONDS (default 5) from its
# committed corpus (fuzz/corpus/<target>, read-only here; new inputs go to a temporary
# directory). A crash fails the stage; its input is left in fuzz/artifacts/<target>/ — fix the
# bug, then commit the input to fuzz/corpus/<target>/ as a regression case.
# Needs the nightly toolchain; installs cargo-fuzz (cached in ~/.cargo/bin) when missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"
SECONDS_EACH="${FUZZ_SECONDS:-5}"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
# Beside the workspace's own build, not a second copy of it elsewhere on the disk.
TARGET_DIR="$ROOT/target/fuzz"
TARGETS=$(cargo +nightly fuzz list)
# Safe Rust only: the sanitizer is not needed to find panics, and without it builds are faster.
cargo +nightly fuzz build --sanitizer none --debug-assertions --target-dir "$TARGET_DIR"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
total_execs=0
for t in $TARGETS; do
  mkdir -p "$WORK/$t"
  log="$WORK/$t.log"
  if ! cargo +nightly fuzz run --sanitizer none --debug-assertions --target-dir "$TARGET_DIR" "$t" \
      "$WORK/$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" -timeout=5 -rss_limit_mb=2048 \
      >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz target $t FAILED; the input is in fuzz/artifacts/$t/"
    exit 1
  fi
  execs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' || echo 0)
  total_execs=$((total_execs + execs))
  echo "fuzz $t: ${execs} executions in ${SECONDS_EACH} s, no crash ($(ls "corpus/$t" | wc -l) corpus files + $(ls "$WORK/$t" | wc -l) new)"
done
echo "fuzz: $(echo "$TARGETS" | wc -w) targets, ${total_execs} executions, no crash"
