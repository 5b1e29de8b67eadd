//! The scenarios: create (with ceiling and peer), list, end to end (SMPP's: `smpp.rs`). Each records what it
//! measured in the [`Report`], and pushes a line to `report.failures` when it failed outright
//! (error responses, missing callbacks); a missed performance target is never a failure.

use crate::engines::{Pg, Variant};
use crate::load::{self, Conn, RequestSpec};
use crate::process::Server;
use crate::report::{
    CreateReport, EndToEndReport, EngineRun, KeyAuthReport, Level, ListQuery, ListReport, PeerReport, Report,
    StreamsReport, StreamsRound,
};
use crate::{peer, report, seed};
use anyhow::{anyhow, bail, Context};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use hyper::Method;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard::store::Account;

/// The body of every create request: a plain one-segment SMS.
pub const CREATE_FORM: &str = "To=%2B14155552671&From=%2B14155550100&Body=Hello+from+the+Switchboard+benchmark";
/// `PageSize` of the list queries.
const PAGE_SIZE: usize = 50;

/// How big and how long each scenario is.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `quick` or `full`.
    pub mode: &'static str,
    /// Connection counts of the create scenario.
    pub levels: Vec<usize>,
    /// Measured time per create level.
    pub window: Duration,
    /// Unmeasured time before each create level.
    pub warmup: Duration,
    /// Messages seeded for the list scenario.
    pub list_messages: u64,
    /// Pages to follow through `next_page_uri` before timing the deep page.
    pub deep_pages: u64,
    /// Measured time per list query.
    pub list_window: Duration,
    /// Messages of the end-to-end scenario.
    pub e2e_messages: u64,
    /// Connections creating them.
    pub e2e_connections: usize,
    /// Rounds of the streams scenario (each: without, with API streams, with inbox streams).
    pub stream_rounds: usize,
}

impl Plan {
    /// The full run (for `docs/performance.md`) or the quick one (for CI).
    pub fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                mode: "quick",
                levels: vec![1, 64],
                window: Duration::from_secs(1),
                warmup: Duration::from_millis(200),
                list_messages: 20_000,
                deep_pages: 2_000,
                list_window: Duration::from_millis(500),
                e2e_messages: 500,
                e2e_connections: 16,
                stream_rounds: 3,
            }
        } else {
            Plan {
                mode: "full",
                levels: vec![1, 16, 64],
                window: Duration::from_secs(10),
                warmup: Duration::from_secs(1),
                list_messages: 1_000_000,
                deep_pages: 2_000,
                list_window: Duration::from_secs(3),
                e2e_messages: 20_000,
                e2e_connections: 64,
                stream_rounds: 3,
            }
        }
    }
}

/// What every scenario needs.
pub struct Ctx {
    /// The plan.
    pub plan: Plan,
    /// `target/release/switchboard`.
    pub server_bin: PathBuf,
    /// This executable (re-run as the ceiling).
    pub self_exe: PathBuf,
    /// Scratch directory for databases (deleted at the end).
    pub work: PathBuf,
    /// Directory for the children's logs (kept).
    pub logs: PathBuf,
    /// Where npm installs the peer.
    pub tools: PathBuf,
    /// Whether to run the peer.
    pub peer: bool,
    /// The account every server is started with.
    pub account: Account,
    /// The PostgreSQL server of the PostgreSQL variants, when one runs.
    pub pg: Option<Arc<Pg>>,
}

impl Ctx {
    /// A new database for `scenario` on `variant`'s engine: a file path in the scratch
    /// directory (SQLite) or the URL of a new database on the PostgreSQL server.
    async fn database(&self, variant: Variant, scenario: &str) -> anyhow::Result<String> {
        if variant.is_postgres() {
            let pg = self.pg.as_ref().ok_or_else(|| anyhow!("{} needs a PostgreSQL server", variant.label()))?;
            return pg.create_database(&format!("{}_{scenario}", variant.slug())).await;
        }
        let path = self.work.join(format!("{scenario}.db"));
        path.to_str().map(str::to_string).ok_or_else(|| anyhow!("the scratch path is not UTF-8: {}", path.display()))
    }

    /// Starts `variant.nodes()` servers on the database `db` (the first named `name`, the
    /// second `name-node2`), one after the other so they do not race for the migrations.
    fn start_nodes(&self, variant: Variant, name: &str, db: &str, extra: &[&str]) -> anyhow::Result<Vec<Server>> {
        (0..variant.nodes())
            .map(|i| {
                let name = if i == 0 { name.to_string() } else { format!("{name}-node{}", i + 1) };
                self.start_switchboard(&name, db, extra)
            })
            .collect()
    }

    /// Starts Switchboard on a fresh or seeded database at `db`, with `extra` flags.
    pub(crate) fn start_switchboard(&self, name: &str, db: &str, extra: &[&str]) -> anyhow::Result<Server> {
        let mut cmd = Command::new(&self.server_bin);
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .arg("--account")
            .arg(format!("{}:{}", self.account.sid, self.account.auth_token))
            // The bench's callbacks go to its own receiver on 127.0.0.1 and nowhere else.
            .args(["--webhook-address-policy", "loopback-only"])
            .args(extra);
        // The server reads SWITCHBOARD_* from the environment; the bench's own settings must
        // be the only ones in force, so a developer's shell cannot skew the figures.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SWITCHBOARD_") {
                cmd.env_remove(key);
            }
        }
        Server::start_announced(name, cmd, &self.logs.join(format!("{name}.log")), Duration::from_secs(60))
    }

    fn messages_path(&self) -> String {
        format!("/2010-04-01/Accounts/{}/Messages.json", self.account.sid)
    }

    pub(crate) fn create_spec(&self, addr: SocketAddr, form: String) -> anyhow::Result<RequestSpec> {
        let auth = Some((self.account.sid.as_str(), self.account.auth_token.as_str()));
        RequestSpec::new(addr, Method::POST, &self.messages_path(), auth, Some(form))
    }
}

fn progress_line(what: &str, level: &Level) {
    eprintln!(
        "    {what}: {} req/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms{}",
        report::int(level.rps),
        level.p50_ms,
        level.p99_ms,
        level.max_ms,
        if level.errors > 0 { format!(", {} ERRORS", level.errors) } else { String::new() }
    );
}

/// Records a level's errors as a failure of `what`.
fn fail_on_errors(report: &mut Report, what: &str, level: &Level) {
    if level.errors > 0 || level.requests == 0 {
        report.failures.push(format!(
            "{what}: {} errors, {} successful requests; first error: {}",
            level.errors,
            level.requests,
            level.first_error.as_deref().unwrap_or("none")
        ));
    }
}

/// Sends one create and checks it is a 201 with a Message; returns the body.
async fn probe_create(spec: &RequestSpec) -> anyhow::Result<Bytes> {
    let mut conn = Conn::open(spec.addr).await?;
    let (status, body) = conn.send(spec).await?;
    if status != StatusCode::CREATED {
        bail!("expected 201, got {status}: {}", String::from_utf8_lossy(&body));
    }
    let v: serde_json::Value = serde_json::from_slice(&body).context("the 201 body is not JSON")?;
    if !v.get("sid").and_then(|s| s.as_str()).is_some_and(|s| s.starts_with("SM")) {
        bail!("the 201 body has no SM sid: {}", String::from_utf8_lossy(&body));
    }
    Ok(body)
}

/// Create: Switchboard (a fresh server and database per level), then the ceiling, then the
/// peer, each at every connection count.
pub async fn create(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let plan = &ctx.plan;
    let mut out = CreateReport {
        window_s: plan.window.as_secs_f64(),
        warmup_s: plan.warmup.as_secs_f64(),
        request_body: CREATE_FORM.to_string(),
        response_bytes: 0,
        switchboard: Vec::new(),
        ceiling: Vec::new(),
        peer: PeerReport {
            name: "Prism 5.14.2 mocking twilio_api_v2010.json (@twilio/cli-core 8.3.2)".into(),
            status: "skipped".into(),
            note: None,
            levels: Vec::new(),
        },
        key_auth: None,
    };

    let (levels, response_bytes) = switchboard_levels(ctx, Variant::Sqlite, report).await?;
    out.switchboard = levels;
    out.response_bytes = response_bytes;

    if let Some(&connections) = plan.levels.last() {
        out.key_auth = Some(key_auth(ctx, report, connections).await?);
    }

    // The ceiling answers as many bytes as Switchboard did.
    let mut cmd = Command::new(&ctx.self_exe);
    cmd.args(["ceiling", "--listen", "127.0.0.1:0", "--response-bytes", &out.response_bytes.to_string()]);
    let mut ceiling = Server::start_announced("ceiling", cmd, &ctx.logs.join("ceiling.log"), Duration::from_secs(30))?;
    let spec = Arc::new(ctx.create_spec(ceiling.addr, CREATE_FORM.to_string())?);
    for &connections in &plan.levels {
        eprintln!("==> create: ceiling, {connections} connections, {:?}", plan.window);
        let outcome = load::run_timed(spec.clone(), connections, plan.warmup, plan.window).await?;
        let level = Level::from(&outcome);
        progress_line("ceiling", &level);
        fail_on_errors(report, &format!("create on the ceiling at {connections} connections"), &level);
        out.ceiling.push(level);
    }
    ceiling.ensure_running()?;
    ceiling.stop()?;

    if ctx.peer {
        if let Err(e) = run_peer(ctx, &mut out.peer).await {
            out.peer.status = if out.peer.status == "skipped" { "skipped" } else { "failed" }.into();
            out.peer.note = Some(format!("{e:#}"));
            report.notes.push(format!("peer (Prism) {}: {e:#}", out.peer.status));
            eprintln!("    peer {}: {e:#}", out.peer.status);
        }
    } else {
        out.peer.note = Some("--no-peer".into());
    }
    report.create = Some(out);
    Ok(())
}

/// Switchboard's create levels on `variant` (a fresh database and servers per level, the
/// connections spread over the nodes); returns them with the size of a 201 body. On SQLite it
/// also reads the server's memory.
pub async fn switchboard_levels(
    ctx: &Ctx,
    variant: Variant,
    report: &mut Report,
) -> anyhow::Result<(Vec<Level>, usize)> {
    let plan = &ctx.plan;
    let mut levels = Vec::new();
    let mut response_bytes = 0;
    let on = if variant == Variant::Sqlite { String::new() } else { format!(" on {}", variant.label()) };
    for (i, &connections) in plan.levels.iter().enumerate() {
        let db = ctx.database(variant, &format!("create-{connections}")).await?;
        let name = format!("switchboard-{}-create-{connections}", variant.slug());
        let mut servers = ctx.start_nodes(variant, &name, &db, &[])?;
        if i == 0 && variant == Variant::Sqlite {
            // Let start-up work (migrations, resume, metrics) settle before reading the peak.
            tokio::time::sleep(Duration::from_secs(1)).await;
            report.memory.idle_empty_kib = Some(servers[0].peak_rss_kib()?);
        }
        let specs = servers
            .iter()
            .map(|s| ctx.create_spec(s.addr, CREATE_FORM.to_string()).map(Arc::new))
            .collect::<anyhow::Result<Vec<_>>>()?;
        for spec in &specs {
            let bytes = probe_create(spec).await.with_context(|| format!("Switchboard's create{on}"))?.len();
            response_bytes = response_bytes.max(bytes);
        }
        eprintln!("==> create{on}: switchboard, {connections} connections, {:?}", plan.window);
        let outcome = load::run_timed_spread(&specs, connections, plan.warmup, plan.window).await?;
        for server in &mut servers {
            server.ensure_running()?;
        }
        if i + 1 == plan.levels.len() && variant == Variant::Sqlite {
            report.memory.after_create_kib = Some(servers[0].peak_rss_kib()?);
        }
        for server in &mut servers {
            server.stop()?;
        }
        let level = Level::from(&outcome);
        progress_line("switchboard", &level);
        fail_on_errors(report, &format!("create on Switchboard{on} at {connections} connections"), &level);
        levels.push(level);
    }
    Ok((levels, response_bytes))
}

/// Token auth and API-key auth on one server at `connections`, in ABBA order (token, key,
/// key, token) so that the database growing during the run favours neither.
async fn key_auth(ctx: &Ctx, report: &mut Report, connections: usize) -> anyhow::Result<KeyAuthReport> {
    let plan = &ctx.plan;
    let db = ctx.database(Variant::Sqlite, "create-key-auth").await?;
    let mut server = ctx.start_switchboard("switchboard-create-key-auth", &db, &[])?;
    let keys_path = format!("/2010-04-01/Accounts/{}/Keys.json", ctx.account.sid);
    let auth = Some((ctx.account.sid.as_str(), ctx.account.auth_token.as_str()));
    let spec = RequestSpec::new(server.addr, Method::POST, &keys_path, auth, Some("FriendlyName=bench".into()))?;
    let (status, body) = Conn::open(server.addr).await?.send(&spec).await?;
    if status != StatusCode::CREATED {
        bail!("creating an API key: {status} {}", String::from_utf8_lossy(&body));
    }
    let key: serde_json::Value = serde_json::from_slice(&body)?;
    let (sid, secret) = (
        key["sid"].as_str().context("key sid")?.to_string(),
        key["secret"].as_str().context("key secret")?.to_string(),
    );
    let token_spec = Arc::new(ctx.create_spec(server.addr, CREATE_FORM.to_string())?);
    let key_spec = Arc::new(RequestSpec::new(
        server.addr,
        Method::POST,
        &ctx.messages_path(),
        Some((sid.as_str(), secret.as_str())),
        Some(CREATE_FORM.to_string()),
    )?);
    probe_create(&key_spec).await.context("create with an API key")?;
    let mut out = KeyAuthReport { connections, token: Vec::new(), key: Vec::new() };
    for (what, spec) in [("token", &token_spec), ("key", &key_spec), ("key", &key_spec), ("token", &token_spec)] {
        eprintln!("==> create: switchboard, {what} auth, {connections} connections, {:?}", plan.window);
        let outcome = load::run_timed(spec.clone(), connections, plan.warmup, plan.window).await?;
        let level = Level::from(&outcome);
        progress_line(&format!("switchboard ({what} auth)"), &level);
        fail_on_errors(report, &format!("create with {what} auth at {connections} connections"), &level);
        if what == "token" {
            out.token.push(level)
        } else {
            out.key.push(level)
        }
    }
    server.ensure_running()?;
    server.stop()?;
    Ok(out)
}

/// The peer's levels. An `Err` while installing means "skipped"; once Prism runs, "failed".
async fn run_peer(ctx: &Ctx, out: &mut PeerReport) -> anyhow::Result<()> {
    eprintln!("==> create: peer (Prism)");
    let tools = peer::install(&ctx.tools).context("cannot install the peer with npm")?;
    out.status = "failed".into();
    let mut prism = peer::start(&tools, &ctx.logs.join("prism.log"))?;
    // Prism checks only that credentials are present, but the SID must match the spec's
    // pattern, which ours does.
    let spec = Arc::new(ctx.create_spec(prism.addr, CREATE_FORM.to_string())?);
    probe_create(&spec).await.context("Prism's answer to the create request")?;
    for &connections in &ctx.plan.levels {
        eprintln!("==> create: prism, {connections} connections, {:?}", ctx.plan.window);
        let outcome = load::run_timed(spec.clone(), connections, ctx.plan.warmup, ctx.plan.window).await?;
        let level = Level::from(&outcome);
        progress_line("prism", &level);
        let errors = level.errors;
        let first = level.first_error.clone();
        out.levels.push(level);
        if errors > 0 {
            bail!("{errors} errors at {connections} connections; first: {}", first.unwrap_or_default());
        }
    }
    prism.ensure_running()?;
    prism.stop()?;
    out.status = "ok".into();
    Ok(())
}

/// List on SQLite (see [`list_on`]), with the server's memory.
pub async fn list(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    report.list = Some(list_on(ctx, Variant::Sqlite, report).await?);
    Ok(())
}

/// List: seed, start, walk deep, then time page 1, the `To` filter, the `DateSent<` filter
/// and the deep page, on one connection per node.
pub async fn list_on(ctx: &Ctx, variant: Variant, report: &mut Report) -> anyhow::Result<ListReport> {
    let plan = &ctx.plan;
    let sqlite = variant == Variant::Sqlite;
    let on = if sqlite { String::new() } else { format!(" on {}", variant.label()) };
    let db = ctx.database(variant, "list").await?;
    eprintln!("==> list{on}: seeding {} messages", report::int(plan.list_messages as f64));
    let every = (plan.list_messages / 10).max(1);
    let seeded = seed::seed(&db, &ctx.account, plan.list_messages, |done| {
        if done % every == 0 || done == plan.list_messages {
            eprintln!("    seeded {} / {}", report::int(done as f64), report::int(plan.list_messages as f64));
        }
    })
    .await?;
    if let Some(pg) = ctx.pg.as_ref().filter(|_| variant.is_postgres()) {
        pg.vacuum_analyze(&db).await.context("VACUUM ANALYZE after seeding")?;
    }
    eprintln!("    seeded in {:.1} s", seeded.took.as_secs_f64());
    if sqlite {
        report.memory.seeded_messages = Some(seeded.messages);
    }

    let mut servers = ctx.start_nodes(variant, &format!("switchboard-{}-list", variant.slug()), &db, &[])?;
    if sqlite {
        tokio::time::sleep(Duration::from_secs(1)).await;
        report.memory.idle_seeded_kib = Some(servers[0].peak_rss_kib()?);
    }

    let auth = Some((ctx.account.sid.as_str(), ctx.account.auth_token.as_str()));
    let base = ctx.messages_path();
    let first = format!("{base}?PageSize={PAGE_SIZE}");
    let spec = RequestSpec::new(servers[0].addr, Method::GET, &first, auth, None)?;
    let node_specs = servers
        .iter()
        .map(|s| RequestSpec::new(s.addr, Method::GET, &first, auth, None))
        .collect::<anyhow::Result<Vec<_>>>()?;

    // Walk to the deep page the way a client does: following next_page_uri.
    let wanted = plan.deep_pages.min((plan.list_messages / PAGE_SIZE as u64).saturating_sub(1));
    eprintln!("==> list{on}: following next_page_uri {wanted} pages deep");
    let walk_started = Instant::now();
    let mut conn = Conn::open(servers[0].addr).await?;
    let mut uri = first.clone();
    let mut depth = 0;
    while depth < wanted {
        let page = get_page(&mut conn, &spec.with_path(&uri)?).await.with_context(|| format!("walking, at {uri}"))?;
        match page.get("next_page_uri").and_then(|v| v.as_str()) {
            Some(next) => uri = next.to_string(),
            None => break,
        }
        depth += 1;
    }
    let walk_s = walk_started.elapsed().as_secs_f64();
    eprintln!("    {depth} pages in {walk_s:.2} s");

    let cutoff_ms = seeded.oldest_ms + (seeded.newest_ms - seeded.oldest_ms) / 2;
    let cutoff = chrono::DateTime::from_timestamp_millis(cutoff_ms)
        .ok_or_else(|| anyhow!("bad cutoff"))?
        .format("%Y-%m-%d")
        .to_string();
    let to = seed::TO[3];
    let queries = [
        ("page 1".to_string(), first.clone()),
        (format!("To={to}"), format!("{base}?To={}&PageSize={PAGE_SIZE}", to.replace('+', "%2B"))),
        (format!("DateSent<{cutoff}"), format!("{base}?DateSent%3C={cutoff}&PageSize={PAGE_SIZE}")),
        (format!("deep page ({depth} pages in)"), uri),
    ];
    let mut out = ListReport {
        messages: seeded.messages,
        seed_s: seeded.took.as_secs_f64(),
        page_size: PAGE_SIZE,
        connections: servers.len(),
        deep_pages: depth,
        walk_s,
        window_s: plan.list_window.as_secs_f64(),
        queries: Vec::new(),
    };
    for (name, path) in queries {
        let spec = spec.with_path(&path)?;
        let page = get_page(&mut conn, &spec).await.with_context(|| format!("list query {name}{on}"))?;
        let messages = page.get("messages").and_then(|m| m.as_array()).map_or(&[][..], Vec::as_slice);
        if messages.len() != PAGE_SIZE {
            report
                .failures
                .push(format!("list query {name}{on}: expected {PAGE_SIZE} messages, got {}", messages.len()));
        }
        if name.starts_with("To=") && messages.iter().any(|m| m.get("to").and_then(|t| t.as_str()) != Some(to)) {
            report.failures.push(format!("list query {name}{on}: a message to another number came back"));
        }
        let specs = node_specs.iter().map(|s| s.with_path(&path).map(Arc::new)).collect::<anyhow::Result<Vec<_>>>()?;
        eprintln!("==> list{on}: {name}, {} connection(s), {:?}", specs.len(), plan.list_window);
        let outcome = load::run_timed_spread(&specs, specs.len(), Duration::from_millis(300), plan.list_window).await?;
        let level = Level::from(&outcome);
        progress_line(&name, &level);
        fail_on_errors(report, &format!("list query {name}{on}"), &level);
        out.queries.push(ListQuery { name, request: path, page_len: messages.len(), timing: level });
    }
    for server in &mut servers {
        server.ensure_running()?;
    }
    if sqlite {
        report.memory.after_list_kib = Some(servers[0].peak_rss_kib()?);
    }
    for server in &mut servers {
        server.stop()?;
    }
    Ok(out)
}

/// GETs a page; anything but a 200 with a JSON object is an error.
async fn get_page(conn: &mut Conn, spec: &RequestSpec) -> anyhow::Result<serde_json::Value> {
    let (status, body) = conn.send(spec).await?;
    if status != StatusCode::OK {
        bail!("expected 200, got {status}: {}", String::from_utf8_lossy(&body));
    }
    serde_json::from_slice(&body).context("the page is not JSON")
}

/// The status callbacks received, by message SID.
#[derive(Default)]
pub(crate) struct Callbacks {
    /// Bit per status received: sending 1, sent 2, delivered 4.
    pub(crate) seen: Mutex<HashMap<String, u8>>,
    pub(crate) distinct: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) unexpected: AtomicU64,
    /// When the latest callback arrived.
    pub(crate) last: Mutex<Option<Instant>>,
}

pub(crate) const ALL_THREE: u8 = 0b111;

/// Records one callback; always answers 200 (a failing receiver would measure retries).
pub(crate) async fn receive(State(cb): State<Arc<Callbacks>>, body: Bytes) -> StatusCode {
    let mut sid = None;
    let mut status = None;
    for (k, v) in form_urlencoded::parse(&body) {
        match &*k {
            "MessageSid" => sid = Some(v.into_owned()),
            "MessageStatus" => status = Some(v.into_owned()),
            _ => {}
        }
    }
    let bit = match status.as_deref() {
        Some("sending") => 1,
        Some("sent") => 2,
        Some("delivered") => 4,
        _ => 0,
    };
    match (sid, bit) {
        (Some(sid), bit) if bit != 0 => {
            let fresh = {
                let mut seen = cb.seen.lock().unwrap_or_else(|p| p.into_inner());
                let entry = seen.entry(sid).or_insert(0);
                let fresh = *entry & bit == 0;
                *entry |= bit;
                fresh
            };
            let counter = if fresh { &cb.distinct } else { &cb.duplicates };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        _ => {
            cb.unexpected.fetch_add(1, Ordering::Relaxed);
        }
    }
    *cb.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    StatusCode::OK
}

/// End to end on SQLite (see [`end_to_end_on`]).
pub async fn end_to_end(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    report.end_to_end = Some(end_to_end_on(ctx, Variant::Sqlite, report).await?);
    Ok(())
}

/// End to end: N creates with a StatusCallback to a receiver in this process, against servers
/// whose simulator answers at once (the connections spread over the nodes); done when every
/// message's three callbacks are in, each (message, status) counted once whichever node sent it.
pub async fn end_to_end_on(ctx: &Ctx, variant: Variant, report: &mut Report) -> anyhow::Result<EndToEndReport> {
    let plan = &ctx.plan;
    let on = if variant == Variant::Sqlite { String::new() } else { format!(" on {}", variant.label()) };
    let n = plan.e2e_messages;
    let callbacks = Arc::new(Callbacks::default());
    let app = axum::Router::new().route("/cb", axum::routing::post(receive)).with_state(callbacks.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let receiver_addr = listener.local_addr()?;
    let receiver = tokio::spawn(async move { axum::serve(listener, app).await });

    let db = ctx.database(variant, "e2e").await?;
    let name = format!("switchboard-{}-e2e", variant.slug());
    let mut servers = ctx.start_nodes(variant, &name, &db, &["--simulator-delay-ms", "0"])?;
    let callback_url = format!("http://{receiver_addr}/cb");
    let form = format!(
        "{CREATE_FORM}&StatusCallback={}",
        form_urlencoded::byte_serialize(callback_url.as_bytes()).collect::<String>()
    );
    let specs = servers
        .iter()
        .map(|s| ctx.create_spec(s.addr, form.clone()).map(Arc::new))
        .collect::<anyhow::Result<Vec<_>>>()?;

    eprintln!(
        "==> end to end{on}: {} messages on {} connections, callbacks to {callback_url}",
        report::int(n as f64),
        plan.e2e_connections
    );
    let cpu_before = servers_cpu_secs(&servers)?;
    let started = Instant::now();
    let conns: Vec<Arc<RequestSpec>> = (0..plan.e2e_connections).map(|i| specs[i % specs.len()].clone()).collect();
    let (created, errors) = create_messages(&conns, n).await?;
    let create_s = started.elapsed().as_secs_f64();
    eprintln!("    {} created in {create_s:.2} s, waiting for callbacks", report::int(created.len() as f64));

    let expected = created.len() as u64 * 3;
    let wait = callback_wait(n);
    await_callbacks(&callbacks, expected, n, || servers.iter_mut().try_for_each(|s| s.ensure_running())).await?;
    let cpu_s = servers_cpu_secs(&servers)? - cpu_before;
    let last = (*callbacks.last.lock().unwrap_or_else(|p| p.into_inner())).unwrap_or(started);
    let total_s = last.saturating_duration_since(started).as_secs_f64().max(create_s);
    for server in &mut servers {
        server.stop()?;
    }
    receiver.abort();

    let seen = callbacks.seen.lock().unwrap_or_else(|p| p.into_inner());
    let incomplete = created.iter().filter(|sid| seen.get(*sid).copied().unwrap_or(0) != ALL_THREE).count() as u64;
    let strangers = seen.keys().filter(|sid| !created.contains(*sid)).count() as u64;
    let distinct_for_ours: u64 =
        created.iter().map(|sid| u64::from(seen.get(sid).copied().unwrap_or(0).count_ones())).sum();
    let out = EndToEndReport {
        messages: created.len() as u64,
        connections: plan.e2e_connections,
        create_s,
        total_s,
        messages_per_s: created.len() as f64 / total_s,
        callbacks_expected: expected,
        callbacks_received: distinct_for_ours,
        duplicates: callbacks.duplicates.load(Ordering::Relaxed),
        unexpected: callbacks.unexpected.load(Ordering::Relaxed) + strangers,
        incomplete_messages: incomplete,
        server_cpu_us_per_message: cpu_s * 1e6 / created.len().max(1) as f64,
    };
    eprintln!(
        "    {} msg/s; {} / {} callbacks, {} incomplete messages; server CPU {:.0} µs per message",
        report::int(out.messages_per_s),
        report::int(out.callbacks_received as f64),
        report::int(expected as f64),
        incomplete,
        out.server_cpu_us_per_message
    );
    if !errors.is_empty() || created.len() as u64 != n {
        report.failures.push(format!(
            "end to end{on}: {} of {n} creates succeeded; {} errors, first: {}",
            created.len(),
            errors.len(),
            errors.first().map_or("none", String::as_str)
        ));
    }
    if incomplete > 0 {
        report.failures.push(format!(
            "end to end{on}: {incomplete} messages still missing callbacks after {wait:?} ({} of {expected} received)",
            out.callbacks_received
        ));
    }
    Ok(out)
}

/// Create, list and end to end (those of `wants`) on a variant other than SQLite.
pub async fn engine_run(ctx: &Ctx, variant: Variant, wants: impl Fn(&str) -> bool, report: &mut Report) -> EngineRun {
    let database = match &ctx.pg {
        Some(pg) => match pg.describe().await {
            Ok(d) => Some(d),
            Err(e) => {
                report.notes.push(format!("could not read the PostgreSQL settings: {e:#}"));
                None
            }
        },
        None => None,
    };
    let mut run = EngineRun {
        engine: variant.engine(),
        nodes: variant.nodes(),
        label: variant.label(),
        database,
        create: Vec::new(),
        list: None,
        end_to_end: None,
    };
    let label = variant.label();
    if wants("create") {
        match switchboard_levels(ctx, variant, report).await {
            Ok((levels, _)) => run.create = levels,
            Err(e) => report.failures.push(format!("create on {label}: {e:#}")),
        }
    }
    if wants("list") {
        match list_on(ctx, variant, report).await {
            Ok(list) => run.list = Some(list),
            Err(e) => report.failures.push(format!("list on {label}: {e:#}")),
        }
    }
    if wants("e2e") {
        match end_to_end_on(ctx, variant, report).await {
            Ok(e2e) => run.end_to_end = Some(e2e),
            Err(e) => report.failures.push(format!("end to end on {label}: {e:#}")),
        }
    }
    run
}

/// Event streams held open in the streams scenario.
const STREAMS: usize = 100;

/// Which streams a measurement of the streams scenario holds open.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Streams {
    /// None: the baseline.
    None,
    /// `/_switchboard/…/Stream`: every event is the full Message resource.
    Api,
    /// The inbox's `/events`: one small `changes` event per wakeup of each stream.
    Inbox,
}

impl Streams {
    fn path(self, account: &str) -> Option<String> {
        match self {
            Streams::None => None,
            Streams::Api => Some(format!("/_switchboard/Accounts/{account}/Stream")),
            Streams::Inbox => Some("/events".to_string()),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Streams::None => "0 streams",
            Streams::Api => "100 API streams",
            Streams::Inbox => "100 inbox streams",
        }
    }
}

/// What the readers of one measurement saw.
#[derive(Default)]
struct ReaderCounts {
    /// Events other than `resync` (`message`, or the inbox's `changes`).
    events: AtomicU64,
    /// `resync` events (a stream that fell behind and was ended by the server).
    resyncs: AtomicU64,
}

/// One measurement of the streams scenario.
#[derive(Clone)]
struct Measured {
    level: Level,
    /// Server CPU per create, µs.
    cpu_us: f64,
    /// CPU of the readers' thread per create, µs.
    readers_cpu_us: f64,
    events: u64,
    resyncs: u64,
}

/// CPU time (user + system) of the calling thread so far, s: run on the readers' one worker
/// thread, what reading the streams cost the clients.
fn thread_cpu_secs() -> f64 {
    // SAFETY: an all-zero rusage is a valid value, and getrusage only writes into it.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD with a valid pointer has no other precondition.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// Create throughput on a fresh server without streams, with [`STREAMS`] API event streams,
/// and with [`STREAMS`] inbox streams, in alternating rounds (the machine's background load
/// drifts; the median round is reported with the spread). The streams must not slow the API:
/// they read a broadcast fed after each commit.
///
/// The readers run on their own one-thread runtime, as separate clients would: on the load
/// generator's runtime, their reading would delay its requests and measure the bench, not the
/// server.
pub async fn streams(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let plan = &ctx.plan;
    let connections = plan.levels.iter().copied().max().unwrap_or(64);
    let readers_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("stream-readers")
        .enable_all()
        .build()
        .context("starting the readers' runtime")?;
    let result = streams_on(ctx, report, connections, readers_rt.handle()).await;
    readers_rt.shutdown_background();
    let rounds = result?;
    let median = |xs: &mut Vec<f64>| -> f64 {
        xs.sort_by(f64::total_cmp);
        match xs.len() {
            0 => 0.0,
            n if n % 2 == 1 => xs[n / 2],
            n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
        }
    };
    let drop = |with: &Level, without: &Level| {
        if without.rps > 0.0 {
            (1.0 - with.rps / without.rps) * 100.0
        } else {
            0.0
        }
    };
    let mut api_drops: Vec<f64> = rounds.iter().map(|r| drop(&r.api, &r.without)).collect();
    let mut inbox_drops: Vec<f64> = rounds.iter().map(|r| drop(&r.inbox, &r.without)).collect();
    let api_events: u64 = rounds.iter().map(|r| r.api_events).sum();
    let inbox_events: u64 = rounds.iter().map(|r| r.inbox_events).sum();
    let resyncs: u64 = rounds.iter().map(|r| r.resyncs).sum();
    if api_events == 0 || inbox_events == 0 {
        report.failures.push("event streams: the open streams received no events".into());
    }
    if resyncs > 0 {
        // A stream the server ended costs nothing afterwards: the figure would flatter it.
        report.failures.push(format!("event streams: {resyncs} streams fell behind and were told to resync"));
    }
    let out = StreamsReport {
        streams: STREAMS,
        connections,
        nproc: report.machine.nproc,
        drop_pct: median(&mut api_drops.clone()),
        inbox_drop_pct: median(&mut inbox_drops.clone()),
        api_drops: {
            api_drops.sort_by(f64::total_cmp);
            api_drops
        },
        inbox_drops: {
            inbox_drops.sort_by(f64::total_cmp);
            inbox_drops
        },
        events_received: api_events,
        inbox_events_received: inbox_events,
        resyncs,
        rounds,
    };
    report.streams = Some(out);
    Ok(())
}

/// The rounds of [`streams`]; each round measures its three cases in a rotated order.
async fn streams_on(
    ctx: &Ctx,
    report: &mut Report,
    connections: usize,
    readers: &tokio::runtime::Handle,
) -> anyhow::Result<Vec<StreamsRound>> {
    let plan = &ctx.plan;
    let mut rounds = Vec::new();
    for round in 0..plan.stream_rounds {
        let mut order = [Streams::None, Streams::Api, Streams::Inbox];
        order.rotate_left(round % 3);
        let mut got: Vec<(Streams, Measured)> = Vec::new();
        for kind in order {
            let db = ctx.database(Variant::Sqlite, &format!("streams-{round}-{kind:?}")).await?;
            let mut server = ctx.start_switchboard(&format!("switchboard-streams-{round}-{kind:?}"), &db, &[])?;
            let counts = Arc::new(ReaderCounts::default());
            let mut tasks = Vec::new();
            if let Some(path) = kind.path(&ctx.account.sid) {
                for _ in 0..STREAMS {
                    tasks.push(open_stream(ctx, server.addr, &path, counts.clone(), readers).await?);
                }
            }
            let spec = Arc::new(ctx.create_spec(server.addr, CREATE_FORM.to_string())?);
            eprintln!(
                "==> streams: round {}, {}, create at {connections} connections, {:?}",
                round + 1,
                kind.name(),
                plan.window
            );
            let cpu_before = server.cpu_secs()?;
            let readers_before = readers.spawn(async { thread_cpu_secs() }).await?;
            let outcome = load::run_timed(spec, connections, plan.warmup, plan.window).await?;
            server.ensure_running()?;
            // Let the lifecycle finish (3 steps of 200 ms) and the streams drain before counting.
            tokio::time::sleep(Duration::from_millis(800)).await;
            // Server CPU per create, lifecycle and streaming included: unlike throughput, it
            // hardly depends on what else the machine is running.
            let creates = outcome.ok_total.max(1) as f64;
            let cpu_us = (server.cpu_secs()? - cpu_before) * 1e6 / creates;
            let readers_cpu_us = (readers.spawn(async { thread_cpu_secs() }).await? - readers_before) * 1e6 / creates;
            for t in tasks {
                t.abort();
            }
            server.stop()?;
            let level = Level::from(&outcome);
            progress_line(kind.name(), &level);
            eprintln!("    server CPU {cpu_us:.0} µs per create, stream readers {readers_cpu_us:.0} µs per create");
            fail_on_errors(report, &format!("create with {}", kind.name()), &level);
            got.push((
                kind,
                Measured {
                    level,
                    cpu_us,
                    readers_cpu_us,
                    events: counts.events.load(Ordering::Relaxed),
                    resyncs: counts.resyncs.load(Ordering::Relaxed),
                },
            ));
        }
        let take =
            |k: Streams| got.iter().find(|g| g.0 == k).map(|g| g.1.clone()).ok_or_else(|| anyhow!("missing {k:?}"));
        let (without, api, inbox) = (take(Streams::None)?, take(Streams::Api)?, take(Streams::Inbox)?);
        rounds.push(StreamsRound {
            without_cpu_us: without.cpu_us,
            api_cpu_us: api.cpu_us,
            inbox_cpu_us: inbox.cpu_us,
            api_readers_cpu_us: api.readers_cpu_us,
            inbox_readers_cpu_us: inbox.readers_cpu_us,
            api_events: api.events,
            inbox_events: inbox.events,
            resyncs: api.resyncs + inbox.resyncs,
            without: without.level,
            api: api.level,
            inbox: inbox.level,
        });
    }
    Ok(rounds)
}

/// Opens one event stream at `path` on the readers' runtime and reads it there, counting its
/// events (message or changes) and resync events.
async fn open_stream(
    ctx: &Ctx,
    addr: SocketAddr,
    path: &str,
    counts: Arc<ReaderCounts>,
    readers: &tokio::runtime::Handle,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use base64::Engine as _;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", ctx.account.sid, ctx.account.auth_token));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {credentials}\r\nAccept: text/event-stream\r\n\r\n"
    );
    let mut sock = readers
        .spawn(async move {
            let mut sock = tokio::net::TcpStream::connect(addr).await.context("connecting an event stream")?;
            sock.write_all(request.as_bytes()).await?;
            let mut head = [0u8; 12];
            sock.read_exact(&mut head).await.context("reading the stream's status line")?;
            if &head[9..12] != b"200" {
                bail!("the event stream answered {}", String::from_utf8_lossy(&head));
            }
            Ok(sock)
        })
        .await??;
    Ok(readers.spawn(async move {
        // Counts blank lines (each SSE event ends with one) with memchr's vectorised search, as
        // cheaply as a real client finds its event boundaries; a resync event is rare and short.
        let blank = memchr::memmem::Finder::new(b"\n\n");
        let resync = memchr::memmem::Finder::new(b"event: resync");
        let mut buf = vec![0u8; 256 * 1024];
        let mut prev = 0u8;
        let mut preamble = true;
        while let Ok(n) = sock.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let data = &buf[..n];
            let mut blocks = blank.find_iter(data).count() as u64;
            // A blank line split across two reads.
            if prev == b'\n' && data[0] == b'\n' {
                blocks += 1;
            }
            prev = data[n - 1];
            // The first block is the stream's `retry:` preamble, not an event.
            if preamble && blocks > 0 {
                preamble = false;
                blocks -= 1;
            }
            let resyncs = resync.find_iter(data).count() as u64;
            counts.events.fetch_add(blocks.saturating_sub(resyncs), Ordering::Relaxed);
            counts.resyncs.fetch_add(resyncs, Ordering::Relaxed);
        }
    }))
}

/// `n` creates spread over one keep-alive connection per spec (a failed connection is
/// reopened); answers the SIDs of the 201s and a line per failed create.
pub(crate) async fn create_messages(
    connections: &[Arc<RequestSpec>],
    n: u64,
) -> anyhow::Result<(HashSet<String>, Vec<String>)> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for spec in connections {
        let (spec, next) = (spec.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(spec.addr).await?;
            let mut sids = Vec::new();
            let mut errors: Vec<String> = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                match conn.send(&spec).await {
                    Ok((StatusCode::CREATED, body)) => {
                        let v: serde_json::Value = serde_json::from_slice(&body)?;
                        let sid = v.get("sid").and_then(|s| s.as_str()).ok_or_else(|| anyhow!("201 without sid"))?;
                        sids.push(sid.to_string());
                    }
                    Ok((status, body)) => errors.push(format!("HTTP {status}: {}", String::from_utf8_lossy(&body))),
                    Err(e) => {
                        errors.push(format!("{e:#}"));
                        conn = Conn::open(spec.addr).await?;
                    }
                }
            }
            Ok::<_, anyhow::Error>((sids, errors))
        }));
    }
    let mut created = HashSet::new();
    let mut errors = Vec::new();
    for task in tasks {
        let (sids, errs) = task.await.context("create task panicked")??;
        created.extend(sids);
        errors.extend(errs);
    }
    Ok((created, errors))
}

/// Waits (60 s plus 1 ms per message at most) until `expected` distinct callbacks have come,
/// printing progress every 2 s; `alive` fails the wait when a server has died.
pub(crate) async fn await_callbacks(
    callbacks: &Callbacks,
    expected: u64,
    n: u64,
    mut alive: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + callback_wait(n);
    let mut last_print = Instant::now();
    while callbacks.distinct.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if last_print.elapsed() >= Duration::from_secs(2) {
            last_print = Instant::now();
            eprintln!(
                "    {} / {} callbacks",
                report::int(callbacks.distinct.load(Ordering::Relaxed) as f64),
                report::int(expected as f64)
            );
        }
        alive()?;
    }
    Ok(())
}

/// CPU time (user + system) the servers have used so far, all nodes together, seconds.
pub(crate) fn servers_cpu_secs(servers: &[Server]) -> anyhow::Result<f64> {
    servers.iter().map(Server::cpu_secs).sum()
}

/// How long the callbacks of `n` messages may take after the last create.
fn callback_wait(n: u64) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(n)
}
