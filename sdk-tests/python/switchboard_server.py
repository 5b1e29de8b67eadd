"""Start and stop the switchboard binary for the conformance suites.

Used by the pytest suite (conftest.py) and by the schemathesis runner. The server is started on
a free port (``--listen 127.0.0.1:0``) with a fresh SQLite database in a temporary directory and
the simulated carrier at zero delay; its base URL is read from the ``listening on http://…``
line it prints on stdout.

With ``SWITCHBOARD_SDK_PG=postgres://…`` (a cluster, as ``scripts/pg.sh`` starts) each server gets
a PostgreSQL database of its own instead: a new one per server, or, for a ``db_path`` that outlives
a process (restart tests), the same database each time that path is named.
"""

from __future__ import annotations

import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LISTENING_RE = re.compile(r"listening on (http://\S+)")
SDK_PG = os.environ.get("SWITCHBOARD_SDK_PG", "")


def pg_database(key: str) -> str:
    """The URL of the cluster's database for `key` (created on first use), via psql."""
    import hashlib
    from urllib.parse import urlsplit, urlunsplit

    name = "sdk_" + hashlib.sha1(key.encode()).hexdigest()[:20]
    psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", SDK_PG, "-At"]
    exists = subprocess.run(psql + ["-c", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
                            check=True, capture_output=True, text=True).stdout.strip()
    if exists != "1":
        subprocess.run(psql + ["-c", f'CREATE DATABASE "{name}"'], check=True, capture_output=True, text=True)
    parts = urlsplit(SDK_PG)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@dataclass(frozen=True)
class Account:
    sid: str
    token: str

    @staticmethod
    def random() -> "Account":
        # SID: AC + 32 lowercase hex; token: 32 hex (alphanumeric, as twilio-go requires).
        return Account("AC" + secrets.token_hex(16), secrets.token_hex(16))


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM the server if the test process dies."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except Exception:  # not Linux, or no libc: the normal teardown still stops the server
        pass


def binary_path() -> Path:
    """The server binary: $SWITCHBOARD_BIN (relative to the repo root) or target/debug/switchboard."""
    raw = os.environ.get("SWITCHBOARD_BIN", "target/debug/switchboard")
    path = Path(raw)
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


class SwitchboardServer:
    """One running `switchboard serve` process. Use as a context manager."""

    def __init__(
        self,
        accounts: list[Account],
        start_timeout: float = 20.0,
        log_copy: Path | None = None,
        db_path: str | None = None,
        extra_args: list[str] | None = None,
    ):
        self.accounts = accounts
        self.extra_args = list(extra_args or [])  # more `serve` flags, e.g. a short receipt window
        self.db_path = db_path  # a database that outlives this process (restart tests)
        self.start_timeout = start_timeout
        self.log_copy = log_copy
        self.base_url: str | None = None
        self.proc: subprocess.Popen | None = None
        self.tmpdir: str | None = None
        self.stdout_lines: list[str] = []
        self._lines: "queue.Queue[str | None]" = queue.Queue()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> "SwitchboardServer":
        binary = binary_path()
        if not binary.exists():
            raise RuntimeError(f"switchboard binary not found at {binary} (set SWITCHBOARD_BIN or run cargo build)")
        self.tmpdir = tempfile.mkdtemp(prefix="switchboard-sdk-")
        db = self.db_path or os.path.join(self.tmpdir, "sb.db")
        if SDK_PG:
            db = pg_database(db)
        cmd = [str(binary), "serve", "--listen", "127.0.0.1:0", "--db", db, "--simulator-delay-ms", "0", "--min-schedule-lead", "1",
               # Tests (and schemathesis's generated URLs) must never reach beyond this machine.
               "--webhook-address-policy", "loopback-only"]
        for acct in self.accounts:
            cmd += ["--account", f"{acct.sid}:{acct.token}"]
        cmd += self.extra_args
        self._stderr = open(os.path.join(self.tmpdir, "server.stderr.log"), "wb")
        env = dict(os.environ)
        env.setdefault("SWITCHBOARD_LOG", "info")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
            preexec_fn=_die_with_parent,
        )
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        try:
            self.base_url = self._wait_for_listening()
        except BaseException:
            self.stop()
            raise
        return self

    def _pump_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def _wait_for_listening(self) -> str:
        deadline = time.monotonic() + self.start_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"switchboard did not print 'listening on' within {self.start_timeout}s\n{self.diagnostics()}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                code = self.proc.wait(timeout=5) if self.proc else None
                raise RuntimeError(f"switchboard exited (code {code}) before listening\n{self.diagnostics()}")
            m = LISTENING_RE.search(line)
            if m:
                return m.group(1).rstrip("/")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the server, wait (SIGKILL after `timeout`), remove the temp dir. Returns the exit code."""
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            code = self.proc.returncode
        if getattr(self, "_stderr", None) is not None:
            self._stderr.close()
        if self.tmpdir is not None:
            if self.log_copy is not None:
                try:
                    self.log_copy.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(os.path.join(self.tmpdir, "server.stderr.log"), self.log_copy)
                except OSError:
                    pass
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
        return code

    def diagnostics(self) -> str:
        err = ""
        if self.tmpdir:
            try:
                with open(os.path.join(self.tmpdir, "server.stderr.log"), "rb") as f:
                    err = f.read()[-4000:].decode("utf-8", "replace")
            except OSError:
                pass
        return "--- stdout ---\n" + "".join(self.stdout_lines)[-2000:] + "\n--- stderr (tail) ---\n" + err

    def __enter__(self) -> "SwitchboardServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
