#!/usr/bin/env bash
# The one test command: Rust unit + integration tests, then the conformance suites that drive the
# built binary with the official Twilio SDKs (Python, Node) and schemathesis with Twilio's OpenAPI,
# and the zero-code stage (unchanged apps and twilio-cli through `switchboard env`'s proxy).
#
# Run from anywhere: bash scripts/test.sh
# Installs what it needs (idempotent, fast when already installed):
#   - python3-venv from apt, only if `python3 -m venv` cannot work (needs root)
#   - sdk-tests/.venv      from sdk-tests/requirements.txt   (PyPI)
#   - sdk-tests/node_modules from sdk-tests/package-lock.json (npm ci)
# Environment:
#   SWITCHBOARD_BIN   binary the suites start (default: target/debug/switchboard, built here)
#   SKIP_CARGO=1      skip cargo build/test (suites only; the binary must exist)
#   ST_MAX_TIME       schemathesis time budget in seconds (default 60)
#   SKIP_BENCH=1      skip the benchmark smoke run
#   SKIP_FUZZ=1       skip the fuzz stage; FUZZ_SECONDS per target (default 5)
# PostgreSQL: a throwaway cluster (scripts/pg.sh: Debian's postgresql, installed with apt-get when
# missing) runs for the whole script, for the store suite on PostgreSQL, tests/postgres.rs and the
# python SDK suite's PostgreSQL run; SWITCHBOARD_REQUIRE_PG=1 makes those tests fail, not skip,
# if it is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SDK="$ROOT/sdk-tests"
REPORTS="$SDK/.reports"
export SWITCHBOARD_BIN="${SWITCHBOARD_BIN:-$ROOT/target/debug/switchboard}"

stage() { printf '\n======== %s ========\n' "$*"; }
now() { date +%s; }
T0=$(now)

declare -a RESULTS=()
FAILED=0
PASSED_STAGES=0
FAILED_STAGES=0
# run_suite NAME TIMEOUT_SECONDS CMD...: run a suite, record its outcome, keep going.
run_suite() {
  local name="$1" limit="$2"
  shift 2
  stage "$name"
  local start rc=0
  start=$(now)
  timeout --kill-after=15 "$limit" "$@" || rc=$?
  if [ "$rc" -eq 0 ]; then
    RESULTS+=("ok    $name ($(( $(now) - start ))s)")
    PASSED_STAGES=$((PASSED_STAGES + 1))
  else
    [ "$rc" -eq 124 ] && echo "!! $name timed out after ${limit}s"
    RESULTS+=("FAIL  $name (exit $rc, $(( $(now) - start ))s)")
    FAILED=1
    FAILED_STAGES=$((FAILED_STAGES + 1))
  fi
}

# ---------------------------------------------------------------------------------------------
stage "setup: PostgreSQL cluster (scripts/pg.sh)"
export SWITCHBOARD_REQUIRE_PG=1
if pg_env="$(bash "$ROOT/scripts/pg.sh" start)"; then
  eval "$pg_env"
  trap 'bash "$ROOT/scripts/pg.sh" stop "$SWITCHBOARD_PG_DIR" >/dev/null 2>&1 || true' EXIT
else
  echo "!! the PostgreSQL cluster could not be started: its tests will fail"
fi

# ---------------------------------------------------------------------------------------------
if [ "${SKIP_CARGO:-0}" != "1" ]; then
  stage "cargo build"
  # The whole workspace: the server and the benchmark binary (its smoke run is the last stage).
  cargo build --workspace
  # A failing Rust test does not stop the SDK suites: every stage reports, then the exit code.
  run_suite "cargo test --workspace" 1800 cargo test --workspace --no-fail-fast
  # 20 kill -9s under 64 connections (about a minute): its own stage, with its figures.
  run_suite "crash loop (cargo test --test crash -- --ignored)" 600 cargo test --test crash -- --ignored --nocapture
fi
# Fuzz targets (fuzz/, outside the workspace), a few seconds each from the committed corpora.
if [ "${SKIP_FUZZ:-0}" != "1" ]; then
  run_suite "fuzz (cargo +nightly fuzz, ${FUZZ_SECONDS:-5} s per target)" 1800 bash scripts/fuzz.sh
fi

# ---------------------------------------------------------------------------------------------
stage "setup: python venv (sdk-tests/.venv)"
PY="${PYTHON:-python3}"
# Debian ships venv's ensurepip in python3-venv (python3.X-venv); install it only when missing.
install_venv_support() {
  echo "python venv support missing: installing python3-venv with apt"
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: need root to apt-get install python3-venv (or install it yourself)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
}
VENV="$SDK/.venv"
py_stamp="$( (cat "$SDK/requirements.txt"; "$PY" -c 'import sys; print(sys.executable, sys.version)') | sha256sum | cut -c1-16)"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1 \
   && [ "$(cat "$VENV/.switchboard-stamp" 2>/dev/null)" = "$py_stamp" ]; then
  echo "up to date ($VENV)"
else
  "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1 || install_venv_support
  rm -rf "$VENV"
  if ! "$PY" -m venv "$VENV"; then
    install_venv_support
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$SDK/requirements.txt"
  echo "$py_stamp" > "$VENV/.switchboard-stamp"
  echo "installed: $("$VENV/bin/python" -m pip freeze --disable-pip-version-check | grep -Ei '^(twilio|schemathesis|pytest)==' | tr '\n' ' ')"
fi

stage "setup: npm packages (sdk-tests/node_modules)"
npm_stamp="$( (cat "$SDK/package-lock.json"; node --version) | sha256sum | cut -c1-16)"
if [ -d "$SDK/node_modules" ] && [ "$(cat "$SDK/node_modules/.switchboard-stamp" 2>/dev/null)" = "$npm_stamp" ]; then
  echo "up to date ($SDK/node_modules)"
else
  (cd "$SDK" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$npm_stamp" > "$SDK/node_modules/.switchboard-stamp"
fi

if [ ! -x "$SWITCHBOARD_BIN" ]; then
  echo "error: switchboard binary not found at $SWITCHBOARD_BIN" >&2
  exit 1
fi
mkdir -p "$REPORTS"

# ---------------------------------------------------------------------------------------------
run_suite "python SDK suite (twilio 9.13.0, pytest)" 300 \
  bash -c 'cd "$1/python" && exec "$1/.venv/bin/python" -m pytest -p no:cacheprovider --junitxml="$2/pytest.xml"' _ "$SDK" "$REPORTS"

# The same suite once more with every server on PostgreSQL (a database of its own each).
run_suite "python SDK suite on PostgreSQL (SWITCHBOARD_SDK_PG)" 300 \
  env SWITCHBOARD_SDK_PG="${SWITCHBOARD_TEST_PG:-postgres://unset}" \
  bash -c 'cd "$1/python" && exec "$1/.venv/bin/python" -m pytest -p no:cacheprovider --junitxml="$2/pytest-postgres.xml"' _ "$SDK" "$REPORTS"

run_suite "node SDK suite (twilio 6.2.0, node --test)" 300 \
  bash -c 'cd "$1" && exec node --test node/*.test.js' _ "$SDK"

# The same suite once more with every server on PostgreSQL (a database of its own each).
run_suite "node SDK suite on PostgreSQL (SWITCHBOARD_SDK_PG)" 300 \
  env SWITCHBOARD_SDK_PG="${SWITCHBOARD_TEST_PG:-postgres://unset}" \
  bash -c 'cd "$1" && exec node --test node/*.test.js' _ "$SDK"

run_suite "zero-code: unchanged python/node apps and twilio-cli via switchboard env" 300 \
  bash "$SDK/zero-code/run.sh"

# The web inbox in a real browser: Debian's chromium (installed here when missing; never a
# downloaded browser) driven by playwright-core. Screenshots land in docs/images/.
if [ ! -x /usr/bin/chromium ]; then
  stage "setup: chromium (apt-get)"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
  else
    echo "error: /usr/bin/chromium missing and not root: apt-get install chromium chromium-driver" >&2
  fi
fi
run_suite "browser suite (inbox in chromium, playwright-core)" 300 \
  bash -c 'cd "$1" && exec node --test browser/*.test.js' _ "$SDK"

run_suite "schemathesis (Twilio OpenAPI, Messages paths)" 300 \
  bash "$SDK/schemathesis/run.sh"

# Once more on PostgreSQL, shorter: the engine, not the API surface, is what differs.
run_suite "schemathesis on PostgreSQL (Twilio OpenAPI, Messages paths, 30 s)" 300 \
  env SWITCHBOARD_SDK_PG="${SWITCHBOARD_TEST_PG:-postgres://unset}" ST_MAX_TIME=30 \
  ST_REPORT_DIR="$REPORTS/schemathesis-postgres" bash "$SDK/schemathesis/run.sh"

run_suite "schemathesis (Twilio OpenAPI, Accounts, Keys, IAM v1 Keys, AuthTokens paths)" 300 \
  "$SDK/.venv/bin/python" "$SDK/schemathesis/run_accounts.py"

# The benchmark is not a test (nothing is timed against a target here), but running it once in
# its tiny configuration keeps it from rotting: it fails only if a scenario fails outright.
if [ "${SKIP_BENCH:-0}" != "1" ]; then
  # The debug binaries built above (`cargo build --workspace`): the smoke run only proves that
  # every scenario still runs, so a third, optimised build of the tree is not worth its minutes.
  run_suite "benchmark smoke run (switchboard-bench --quick, debug build)" 900 \
    "$ROOT/target/debug/switchboard-bench" --quick --server-bin "$SWITCHBOARD_BIN" --json "$REPORTS/bench-quick.json"
fi

# ---------------------------------------------------------------------------------------------
stage "summary ($(( $(now) - T0 ))s)"
printf '%s\n' "${RESULTS[@]}"
echo "reports and server logs: $REPORTS"
echo "stages: $PASSED_STAGES passed, $FAILED_STAGES failed"
exit "$FAILED"
