#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests: Debian's `postgresql` package (installed with apt-get
# when initdb is missing), `initdb` in a temporary directory, `pg_ctl start` on a free loopback
# port, TLS on (a self-signed certificate for 127.0.0.1/localhost), trust authentication on
# loopback only. No Docker.
#
#   eval "$(bash scripts/pg.sh start)"   # exports SWITCHBOARD_TEST_PG, SWITCHBOARD_PG_DIR,
#                                        #   SWITCHBOARD_TEST_PG_CA (the certificate, for verify-full)
#   bash scripts/pg.sh stop "$SWITCHBOARD_PG_DIR"
#
# Only the export lines go to stdout; progress goes to stderr. The cluster trades durability
# for speed (fsync=off): it holds test data only.
set -euo pipefail

log() { echo "pg.sh: $*" >&2; }

pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

# Runs a PostgreSQL program as the cluster's owner (initdb and postgres refuse to run as root).
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start() {
  local bin
  if ! bin="$(pg_bin)"; then
    if [ "$(id -u)" -ne 0 ]; then
      log "initdb not found and not root: apt-get install postgresql (or set SWITCHBOARD_TEST_PG)"
      exit 1
    fi
    log "installing postgresql (apt-get)"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    bin="$(pg_bin)"
  fi
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
  fi
  local dir port
  dir="$(mktemp -d /tmp/switchboard-pg.XXXXXX)"
  chmod 755 "$dir"
  mkdir -p "$dir/data" "$dir/run"
  [ "$(id -u)" -eq 0 ] && chown -R postgres "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -U switchboard --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  local tls=""
  if command -v openssl >/dev/null 2>&1; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
      -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" \
      -keyout "$dir/data/server.key" -out "$dir/data/server.crt" >/dev/null 2>&1
    cp "$dir/data/server.crt" "$dir/ca.crt"
    chmod 600 "$dir/data/server.key"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir/data/server.key" "$dir/data/server.crt"
    tls="-c ssl=on"
  fi
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir/run -c max_connections=400 \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=64MB $tls" >&2 \
    || { cat "$dir/server.log" >&2; exit 1; }
  "$bin/psql" -q -h 127.0.0.1 -p "$port" -U switchboard -d postgres -c "CREATE DATABASE switchboard" >&2
  log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $dir)"
  echo "export SWITCHBOARD_TEST_PG='postgres://switchboard@127.0.0.1:$port/switchboard'"
  echo "export SWITCHBOARD_PG_DIR='$dir'"
  [ -f "$dir/ca.crt" ] && echo "export SWITCHBOARD_TEST_PG_CA='$dir/ca.crt'"
  echo "export PATH='$bin':\"\$PATH\""
}

stop() {
  local dir="${1:-}"
  [ -n "$dir" ] && [ -d "$dir/data" ] || { log "stop: no cluster directory given"; exit 1; }
  local bin
  bin="$(pg_bin)"
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  *) echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
