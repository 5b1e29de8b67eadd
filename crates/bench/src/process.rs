//! Child servers under test: start, wait until they listen, measure memory, stop.
//!
//! Every child is wrapped in a [`Server`] whose `Drop` terminates it, so a failing scenario
//! (an `?` anywhere) never leaves a server running behind the bench.

use anyhow::{anyhow, bail, Context};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running child server.
pub struct Server {
    name: String,
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    log: PathBuf,
    stopped: bool,
}

impl Server {
    /// Spawns `cmd` and reads its stdout until a line containing `listening on http://ADDR`
    /// appears (Switchboard and the ceiling both print one). Stdout keeps being drained by a
    /// thread afterwards so the child never blocks on a full pipe; stderr goes to `log`.
    pub fn start_announced(name: &str, mut cmd: Command, log: &Path, timeout: Duration) -> anyhow::Result<Server> {
        let log_file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log_file);
        let mut child = cmd.spawn().with_context(|| format!("starting {name} ({cmd:?})"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("{name}: no stdout pipe"))?;
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::Builder::new().name(format!("{name}-stdout")).spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // After the announcement nobody listens; keep reading so the pipe drains.
                let _ = tx.send(line);
            }
        })?;
        let mut server = Server {
            name: name.to_string(),
            child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            log: log.to_path_buf(),
            stopped: false,
        };
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("{name} did not announce its address within {timeout:?}{}", server.log_tail());
            }
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    if let Some(addr) = parse_listening(&line) {
                        server.addr = addr;
                        return Ok(server);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = server.child.wait()?;
                    server.stopped = true;
                    bail!("{name} exited ({status}) before listening{}", server.log_tail());
                }
            }
        }
    }

    /// Spawns `cmd`, which will listen on `addr` without announcing it, and waits until a TCP
    /// connection to `addr` succeeds. Stdout and stderr go to `log`.
    pub fn start_polled(
        name: &str,
        mut cmd: Command,
        addr: SocketAddr,
        log: &Path,
        timeout: Duration,
    ) -> anyhow::Result<Server> {
        let log_file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null()).stdout(log_file.try_clone()?).stderr(log_file);
        let child = cmd.spawn().with_context(|| format!("starting {name} ({cmd:?})"))?;
        let mut server = Server { name: name.to_string(), child, addr, log: log.to_path_buf(), stopped: false };
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = server.child.try_wait()? {
                server.stopped = true;
                bail!("{name} exited ({status}) before listening{}", server.log_tail());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(server);
            }
            if Instant::now() >= deadline {
                bail!("{name} was not listening on {addr} within {timeout:?}{}", server.log_tail());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time the server has used so far (user + system, all threads), seconds.
    pub fn cpu_secs(&self) -> anyhow::Result<f64> {
        let path = format!("/proc/{}/stat", self.pid());
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        let rest = text.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| anyhow!("unexpected {path}"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        Ok((ticks(14) + ticks(15)) / hz)
    }

    /// Peak resident set size so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        proc_status_kib(self.pid(), "VmHWM:")
    }

    /// Fails with the log's tail if the child has exited (it should not, mid-scenario).
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            self.stopped = true;
            bail!("{} exited unexpectedly ({status}){}", self.name, self.log_tail());
        }
        Ok(())
    }

    /// Asks the child to stop with SIGTERM (graceful shutdown), and kills it if it has not
    /// exited after 10 s.
    pub fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        if self.stopped {
            return self.child.wait().map_err(Into::into);
        }
        self.stopped = true;
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        let pid = libc::pid_t::try_from(self.child.id()).context("pid out of range")?;
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("  {} ignored SIGTERM for 10 s; killing it", self.name);
        self.child.kill()?;
        Ok(self.child.wait()?)
    }

    /// The last lines of the child's log, formatted to append to an error.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n    ");
        if tail.is_empty() {
            format!(" (log {} is empty)", self.log.display())
        } else {
            format!("; last lines of {}:\n    {tail}", self.log.display())
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.stop();
        }
    }
}

/// The address in a `… listening on http://127.0.0.1:PORT …` line.
fn parse_listening(line: &str) -> Option<SocketAddr> {
    let rest = line.split("listening on http://").nth(1)?;
    rest.split(|c: char| c.is_whitespace() || c == '/').next()?.parse().ok()
}

/// A `Name:   1234 kB` field of `/proc/PID/status`, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let line = text.lines().find(|l| l.starts_with(field)).ok_or_else(|| anyhow!("no {field} in {path}"))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .with_context(|| format!("parsing {line:?} in {path}"))
}

/// A free TCP port on 127.0.0.1 for a child that cannot bind port 0 and report it (Prism).
/// Racy in theory (another process could take it first), harmless on a bench machine.
pub fn free_local_addr() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announcement_line_yields_the_address() {
        let addr = parse_listening("Switchboard 0.1.0 listening on http://127.0.0.1:41234").unwrap();
        assert_eq!(addr, "127.0.0.1:41234".parse().unwrap());
        assert_eq!(parse_listening("ceiling listening on http://127.0.0.1:5/ ok"), "127.0.0.1:5".parse().ok());
        assert_eq!(parse_listening("  API base URL: http://127.0.0.1:8080"), None);
    }

    #[test]
    fn our_own_peak_rss_is_readable() {
        assert!(proc_status_kib(std::process::id(), "VmHWM:").unwrap() > 0);
    }
}
