#!/usr/bin/env bash
# Zero-code-change stage: unchanged apps (official twilio for Python and Node, and twilio-cli)
# reach Switchboard through the variables `switchboard env` prints, and nothing else.
#
# Each app runs under `env -i` with only PATH, HOME, the Twilio credentials and those variables.
# The messages they create are then checked through Switchboard's own API (plain HTTP, not the
# proxy). A control run of the same app without the variables must fail (this machine cannot
# reach the real api.twilio.com) and must create nothing.
#
# Needs: SWITCHBOARD_BIN, sdk-tests/.venv and sdk-tests/node_modules (scripts/test.sh sets them up).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SDK="$(cd "$HERE/.." && pwd)"
BIN="${SWITCHBOARD_BIN:?set SWITCHBOARD_BIN}"
PY="$SDK/.venv/bin/python"
NODE="$(command -v node)"
TWILIO_CLI="$SDK/node_modules/.bin/twilio"
REPORTS="$SDK/.reports"
mkdir -p "$REPORTS"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

hex32() { "$PY" -c 'import secrets; print(secrets.token_hex(16))'; }
SID="AC$(hex32)"
TOKEN="$(hex32)"
mkdir -p "$WORK/home"

fail() { echo "FAIL: $*" >&2; echo "--- server log" >&2; tail -n 40 "$WORK/server.log" >&2 || true; exit 1; }

# --- start Switchboard with the proxy on free ports --------------------------------------------
"$BIN" serve --listen 127.0.0.1:0 --proxy-listen 127.0.0.1:0 --db "$WORK/sb.db" \
  --account "$SID:$TOKEN" --simulator-delay-ms 0 --webhook-address-policy loopback-only \
  >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 1 200); do
  grep -q '^  Proxy:' "$WORK/server.out" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || fail "switchboard exited at start"
  sleep 0.1
done
API="$(sed -n 's/.*listening on \(http:\/\/[^ ]*\).*/\1/p' "$WORK/server.out")"
PROXY="$(sed -n 's/^  Proxy: *\(http:\/\/[^ ]*\).*/\1/p' "$WORK/server.out")"
[ -n "$API" ] && [ -n "$PROXY" ] || fail "no API or proxy address in: $(cat "$WORK/server.out")"
echo "Switchboard API $API, proxy $PROXY"

# --- the variables: `switchboard env` with the same settings as serve ---------------------------
"$BIN" env --format dotenv --db "$WORK/sb.db" >"$WORK/env" 2>>"$WORK/server.log" || fail "switchboard env failed"
echo "switchboard env --format dotenv printed:"
sed 's/^/  /' "$WORK/env"
"$BIN" env --db "$WORK/sb.db" >"$REPORTS/zero-code-env.sh" 2>/dev/null
mapfile -t VARS <"$WORK/env"
grep -q "^HTTPS_PROXY=$PROXY\$" "$WORK/env" || fail "HTTPS_PROXY is not the running proxy ($PROXY)"

# with_env CMD...: the command with only PATH, HOME, the credentials and the printed variables.
with_env() {
  env -i PATH="$PATH" HOME="$WORK/home" TWILIO_ACCOUNT_SID="$SID" TWILIO_AUTH_TOKEN="$TOKEN" "${VARS[@]}" "$@"
}
# without_env CMD...: the same, minus the variables.
without_env() {
  env -i PATH="$PATH" HOME="$WORK/home" TWILIO_ACCOUNT_SID="$SID" TWILIO_AUTH_TOKEN="$TOKEN" "$@"
}

# api PATH: GET on Switchboard's own API (never through the proxy).
api() { curl -sS --noproxy '*' -m 10 -u "$SID:$TOKEN" "$API$1"; }

# check_app NAME TO OUTPUT_FILE: the app's JSON names a message that Switchboard holds.
check_app() {
  local name="$1" to="$2" out="$3"
  "$PY" - "$out" "$to" "$SID" "$TOKEN" "$API" "$name" <<'PY'
import base64, json, sys, urllib.request
out, to, sid, token, api, name = sys.argv[1:]
got = json.loads(open(out).read().strip().splitlines()[-1])
auth = "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()
def get(path):
    req = urllib.request.Request(api + path, headers={"Authorization": auth})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return json.loads(opener.open(req, timeout=10).read())
msg = get(f"/2010-04-01/Accounts/{sid}/Messages/{got['created']}.json")
assert msg["to"] == to and msg["from"] == "+15005550006", msg
assert msg["body"] == f"zero-code hello from {name}", msg
assert got["fetched_body"] == msg["body"], got
assert got["created"] in got["listed"], got
server_list = [m["sid"] for m in get(f"/2010-04-01/Accounts/{sid}/Messages.json?To={to.replace('+', '%2B')}")["messages"]]
assert server_list == [got["created"]], server_list
for service in got["services"]:
    assert get(f"/v1/Services/{service}")["sid"] == service
assert set(got["services"]) <= set(got["services_paged"]), got
print(f"  ok: {name} created {got['created']} (body {msg['body']!r}, status {msg['status']}); Switchboard lists it;"
      f" services {got['services']} exist and were listed over {len(got['services_paged'])} pages")
PY
}

# count TO: messages Switchboard holds for that number.
count() {
  api "/2010-04-01/Accounts/$SID/Messages.json?To=%2B$1" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["messages"]))'
}

run_app() {
  local name="$1" to_digits="$2"
  shift 2
  echo
  echo "== $name (unchanged app, env -i + switchboard env)"
  if ! with_env timeout 60 "$@" "+$to_digits" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
    cat "$WORK/$name.err" >&2
    fail "$name did not complete through the proxy"
  fi
  echo "  output: $(cat "$WORK/$name.out")"
  check_app "$name" "+$to_digits" "$WORK/$name.out"

  echo "== $name control run (no proxy/CA variables): must fail and create nothing"
  local before after rc=0 started=$SECONDS
  before="$(count "$to_digits")"
  without_env timeout 30 "$@" "+$to_digits" >"$WORK/$name.control.out" 2>"$WORK/$name.control.err" || rc=$?
  after="$(count "$to_digits")"
  [ "$rc" -ne 0 ] || fail "$name reached something without the variables: $(cat "$WORK/$name.control.out")"
  [ "$before" = "$after" ] || fail "$name created a message in Switchboard without the variables"
  echo "  ok: exit $rc after $((SECONDS - started))s, nothing created; it said: $(tail -n 1 "$WORK/$name.control.err" | cut -c1-160)"
}

run_app python 14155550171 "$PY" "$HERE/app.py"
run_app node 14155550172 "$NODE" "$HERE/app.js"

# --- twilio-cli lists the messages the same way -------------------------------------------------
echo
echo "== twilio-cli $("$NODE" -e 'console.log(require(process.argv[1]).version)' "$SDK/node_modules/twilio-cli/package.json") (env -i + switchboard env)"
if ! with_env timeout 120 "$TWILIO_CLI" api:core:messages:list --to +14155550171 -o json \
    >"$WORK/cli.out" 2>"$WORK/cli.err"; then
  cat "$WORK/cli.out" "$WORK/cli.err" >&2
  fail "twilio api:core:messages:list did not complete through the proxy"
fi
"$PY" - "$WORK/cli.out" "$WORK/python.out" <<'PY'
import json, sys
listed = json.load(open(sys.argv[1]))
expected = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])["created"]
sids = [m["sid"] for m in listed]
assert sids == [expected], sids
print(f"  ok: twilio api:core:messages:list --to +14155550171 listed {sids} ({listed[0]['body']!r})")
PY
echo "== twilio-cli control run: must fail"
rc=0
without_env timeout 60 "$TWILIO_CLI" api:core:messages:list --to +14155550171 -o json \
  >"$WORK/cli.control.out" 2>"$WORK/cli.control.err" || rc=$?
if [ "$rc" -eq 0 ] && grep -q '"sid"' "$WORK/cli.control.out"; then
  fail "twilio-cli listed messages without the variables"
fi
echo "  ok: exit $rc; it said: $(grep -v '^\s*$' "$WORK/cli.control.err" | tail -n 1 | cut -c1-160)"

echo
echo "zero-code stage: 3 unchanged clients reached Switchboard through the environment alone"
