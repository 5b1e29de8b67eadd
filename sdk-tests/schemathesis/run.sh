#!/usr/bin/env bash
# Schemathesis against the switchboard binary with Twilio's own OpenAPI description.
# Expects sdk-tests/.venv (requirements.txt) and sdk-tests/node_modules (npm ci) to be installed;
# scripts/test.sh sets both up. See run.py for the steps and the environment variables.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$here/../.venv/bin/python" "$here/run.py" "$@"
