//! The SMPP scenario: end to end through one SMPP connector (one transceiver session, window
//! 64) to an SMSC that accepts every `submit_sm` and sends its delivery receipt at once, beside
//! the simulator end to end with the same load in the same run.
//!
//! The SMSC is the `smpp34` crate's `SmppServer` (a third-party implementation) inside this
//! process, on a one-thread runtime of its own, as a separate SMSC would be: on the load
//! generator's runtime its work would delay the creates and measure the bench. On one thread
//! the `submit_sm_resp` (queued when the listener returns) always leaves before the receipt
//! (queued by a task the listener spawns), as a real SMSC sends them.

use crate::load::RequestSpec;
use crate::process::Server;
use crate::report::{self, EndToEndReport, Report, SmppReport, SmppRound};
use crate::scenarios::{await_callbacks, create_messages, receive, Callbacks, Ctx, ALL_THREE, CREATE_FORM};
use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use smpp34::server::ESME;
use smpp34::{
    bind_transceiver, bind_transceiver_resp, submit_sm, submit_sm_resp, SmppConnectionInformation, SmppServer,
    SmppServerListener, Tlv, TlvTag,
};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Outstanding `submit_sm` of the connector's one session.
pub const WINDOW: usize = 64;
/// What the report says the SMSC is.
const SMSC: &str = "smpp34 1.5.1 SmppServer in the bench process (own 1-thread runtime): accepts every submit_sm, \
                    sends the receipt (deliver_sm, stat:DELIVRD, receipt TLVs) right after the response";

/// The SMSC's state: the bound ESME (Switchboard's connector) and counters.
#[derive(Default)]
struct Smsc {
    esme: Mutex<Option<Arc<ESME>>>,
    next_id: AtomicU64,
    submits: AtomicU64,
    receipts: AtomicU64,
    /// Receipts the connector did not acknowledge with ESME_ROK (shared with the receipt tasks).
    receipt_errors: Arc<AtomicU64>,
}

#[async_trait]
impl SmppServerListener for Smsc {
    async fn on_bind_transceiver(
        &self,
        req: bind_transceiver,
        _c: &SmppConnectionInformation,
        _s: &String,
    ) -> bind_transceiver_resp {
        req.accept("bench".to_string(), Some(0x34))
    }

    async fn on_esme_bound(&self, esme: ESME, _s: &String) {
        *self.esme.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(esme));
    }

    async fn on_esme_unbound(&self, _s: &String) {
        *self.esme.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    async fn on_submit_sm(&self, req: submit_sm, _c: &SmppConnectionInformation, _s: &String) -> submit_sm_resp {
        self.submits.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:X}", self.next_id.fetch_add(1, Ordering::Relaxed) + 0x1000_0000);
        let esme = self.esme.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(esme) = esme.filter(|_| req.registered_delivery & 1 == 1) {
            self.receipts.fetch_add(1, Ordering::Relaxed);
            let (from, to, id) = (req.destination_addr.clone(), req.source_addr.clone(), id.clone());
            let errors = self.receipt_errors.clone();
            tokio::spawn(async move {
                let text = format!(
                    "id:{id} sub:001 dlvrd:001 submit date:2612021200 done date:2612021200 stat:DELIVRD err:000 text:"
                );
                let acked = esme
                    .deliver_sm()
                    .source_addr_ton(1)
                    .source_addr_npi(1)
                    .source_addr(from)
                    .destination_addr(to)
                    .esm_class(0x04)
                    .short_message(text.into_bytes())
                    .tlvs([
                        Tlv::from_tag(TlvTag::ReceiptedMessageId, format!("{id}\0").into_bytes()),
                        Tlv::from_u8(TlvTag::MessageStateTlv, 2),
                    ])
                    .send()
                    .await
                    .is_ok_and(|resp| resp.is_success());
                if !acked {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        req.accept(id)
    }
}

/// The SMSC, running on its own runtime; stopped when dropped.
struct RunningSmsc {
    state: Arc<Smsc>,
    port: u16,
    server: Option<SmppServer>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl RunningSmsc {
    /// Starts the SMSC on a free loopback port (smpp34 has no port-0 accessor: a listener on
    /// port 0 finds one, which the SMSC then binds).
    async fn start() -> anyhow::Result<RunningSmsc> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("smsc")
            .enable_all()
            .build()
            .context("starting the SMSC's runtime")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let state = Arc::new(Smsc::default());
        let listener = state.clone();
        let server = runtime
            .spawn(async move {
                let mut server = SmppServer::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port, listener);
                server.start().await;
                server
            })
            .await
            .context("starting the SMSC")?;
        let running = RunningSmsc { state, port, server: Some(server), runtime: Some(runtime) };
        if !running.server.as_ref().is_some_and(SmppServer::is_alive) {
            bail!("the smpp34 SMSC could not listen on 127.0.0.1:{port}");
        }
        Ok(running)
    }

    /// Waits until an ESME (the server's connector) is bound.
    async fn wait_bound(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        while self.state.esme.lock().unwrap_or_else(|p| p.into_inner()).is_none() {
            if Instant::now() >= deadline {
                bail!("the connector did not bind to the SMSC within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

impl Drop for RunningSmsc {
    fn drop(&mut self) {
        // The server's own Drop stops its accept loop; then the runtime ends its sessions
        // without blocking this (async) thread.
        drop(self.server.take());
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Which carrier a round goes to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Carrier {
    Simulator,
    Smpp,
}

impl Carrier {
    fn name(self) -> &'static str {
        match self {
            Carrier::Simulator => "simulator",
            Carrier::Smpp => "smpp",
        }
    }
}

/// SMPP end to end beside the simulator: rounds in ABBA order (simulator, SMPP, SMPP,
/// simulator; SMPP then simulator in a quick run) on fresh servers, each N creates with a
/// StatusCallback, timed from the first create to the last callback.
pub async fn smpp(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let plan = &ctx.plan;
    let order: &[Carrier] = if plan.mode == "quick" {
        &[Carrier::Smpp, Carrier::Simulator]
    } else {
        &[Carrier::Simulator, Carrier::Smpp, Carrier::Smpp, Carrier::Simulator]
    };
    let smsc = RunningSmsc::start().await?;
    let mut rounds = Vec::new();
    for (i, &carrier) in order.iter().enumerate() {
        let round = run_round(ctx, report, &smsc, carrier, i).await?;
        rounds.push(round);
    }
    let receipt_errors = smsc.state.receipt_errors.load(Ordering::Relaxed);
    if receipt_errors > 0 {
        report.failures.push(format!("smpp: {receipt_errors} receipts were not acknowledged with ESME_ROK"));
    }
    let best =
        |c: Carrier| rounds.iter().filter(|r| r.carrier == c.name()).map(|r| r.run.messages_per_s).fold(0.0, f64::max);
    report.smpp = Some(SmppReport {
        smsc: SMSC.to_string(),
        window: WINDOW,
        sessions: 1,
        messages: plan.e2e_messages,
        connections: plan.e2e_connections,
        smpp_messages_per_s: best(Carrier::Smpp),
        simulator_messages_per_s: best(Carrier::Simulator),
        submits: smsc.state.submits.load(Ordering::Relaxed),
        receipts: smsc.state.receipts.load(Ordering::Relaxed),
        receipt_errors,
        rounds,
    });
    Ok(())
}

/// One round: a fresh server (with the connector for SMPP), its creates and callbacks.
async fn run_round(
    ctx: &Ctx,
    report: &mut Report,
    smsc: &RunningSmsc,
    carrier: Carrier,
    index: usize,
) -> anyhow::Result<SmppRound> {
    let plan = &ctx.plan;
    let n = plan.e2e_messages;
    let callbacks = Arc::new(Callbacks::default());
    let app = axum::Router::new().route("/cb", axum::routing::post(receive)).with_state(callbacks.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let receiver_addr = listener.local_addr()?;
    let receiver = tokio::spawn(async move { axum::serve(listener, app).await });

    let name = format!("switchboard-smpp-{}-{}", index + 1, carrier.name());
    let db = ctx.work.join(format!("smpp-{}-{}.db", index + 1, carrier.name()));
    let db = db.to_str().ok_or_else(|| anyhow!("the scratch path is not UTF-8: {}", db.display()))?;
    let url = format!("smpp://bench:bench@127.0.0.1:{}?name=bench&window={WINDOW}", smsc.port);
    let mut extra = vec!["--simulator-delay-ms", "0"];
    if carrier == Carrier::Smpp {
        extra.extend(["--smpp", url.as_str()]);
    }
    let mut server = ctx.start_switchboard(&name, db, &extra)?;
    if carrier == Carrier::Smpp {
        smsc.wait_bound(Duration::from_secs(10)).await?;
    }
    let callback_url = format!("http://{receiver_addr}/cb");
    let form = format!(
        "{CREATE_FORM}&StatusCallback={}",
        form_urlencoded::byte_serialize(callback_url.as_bytes()).collect::<String>()
    );
    let spec = Arc::new(ctx.create_spec(server.addr, form)?);
    eprintln!(
        "==> smpp: round {}, {}, {} messages on {} connections{}",
        index + 1,
        carrier.name(),
        report::int(n as f64),
        plan.e2e_connections,
        if carrier == Carrier::Smpp { format!(", one session, window {WINDOW}") } else { String::new() }
    );
    let run = drive(spec, n, plan.e2e_connections, &callbacks, &mut server).await;
    server.stop()?;
    receiver.abort();
    let (run, errors) = run?;
    eprintln!(
        "    {} msg/s (creates {:.2} s, last callback {:.2} s); {} / {} callbacks, {} incomplete; server CPU {:.0} µs per message",
        report::int(run.messages_per_s),
        run.create_s,
        run.total_s,
        report::int(run.callbacks_received as f64),
        report::int(run.callbacks_expected as f64),
        run.incomplete_messages,
        run.server_cpu_us_per_message
    );
    let what = format!("smpp scenario, {} round {}", carrier.name(), index + 1);
    if !errors.is_empty() || run.messages != n {
        report.failures.push(format!(
            "{what}: {} of {n} creates succeeded; {} errors, first: {}",
            run.messages,
            errors.len(),
            errors.first().map_or("none", String::as_str)
        ));
    }
    if run.incomplete_messages > 0 {
        report.failures.push(format!(
            "{what}: {} messages still missing callbacks ({} of {} received)",
            run.incomplete_messages, run.callbacks_received, run.callbacks_expected
        ));
    }
    Ok(SmppRound { carrier: carrier.name(), server_cpu_us_per_message: run.server_cpu_us_per_message, run })
}

/// `n` creates on `connections` keep-alive connections, then the wait for every message's
/// three callbacks (sending, sent, delivered); the figures (throughput, server CPU) run from
/// the first create to the last callback. Returns them with the create errors.
async fn drive(
    spec: Arc<RequestSpec>,
    n: u64,
    connections: usize,
    callbacks: &Arc<Callbacks>,
    server: &mut Server,
) -> anyhow::Result<(EndToEndReport, Vec<String>)> {
    let cpu_before = server.cpu_secs()?;
    let started = Instant::now();
    let (created, errors) = create_messages(&vec![spec; connections], n).await?;
    let create_s = started.elapsed().as_secs_f64();

    let expected = created.len() as u64 * 3;
    await_callbacks(callbacks, expected, n, || server.ensure_running()).await?;
    let cpu_s = server.cpu_secs()? - cpu_before;
    let last = (*callbacks.last.lock().unwrap_or_else(|p| p.into_inner())).unwrap_or(started);
    let total_s = last.saturating_duration_since(started).as_secs_f64().max(create_s);
    let seen = callbacks.seen.lock().unwrap_or_else(|p| p.into_inner());
    let incomplete = created.iter().filter(|sid| seen.get(*sid).copied().unwrap_or(0) != ALL_THREE).count() as u64;
    let strangers = seen.keys().filter(|sid| !created.contains(*sid)).count() as u64;
    let received: u64 = created.iter().map(|sid| u64::from(seen.get(sid).copied().unwrap_or(0).count_ones())).sum();
    let run = EndToEndReport {
        messages: created.len() as u64,
        connections,
        create_s,
        total_s,
        messages_per_s: created.len() as f64 / total_s,
        callbacks_expected: expected,
        callbacks_received: received,
        duplicates: callbacks.duplicates.load(Ordering::Relaxed),
        unexpected: callbacks.unexpected.load(Ordering::Relaxed) + strangers,
        incomplete_messages: incomplete,
        server_cpu_us_per_message: cpu_s * 1e6 / created.len().max(1) as f64,
    };
    Ok((run, errors))
}
