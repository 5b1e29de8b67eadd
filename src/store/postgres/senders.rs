//! PostgreSQL implementation of [`SenderStore`]: phone numbers, short codes, Messaging Services
//! and their sender pools (schema: `migrations/postgres/0001_init.sql`).
//!
//! SIDs are stored as `prefix + lowercase key`; every SID that comes in is normalised the same
//! way first (an ill-formed one simply finds nothing). Checks and the writes they allow run in
//! one transaction with the rows they read locked (`FOR UPDATE`), so nodes sharing the
//! database cannot interleave them.

use super::engine::{bind, execute, query, query_opt, Arg, Conn, PgStore};
use super::rows::to_u32;
use crate::store::senders::{
    normalize_sid, pool_country, Edit, IncomingNumber, NewPoolSender, NumberSettings, NumberStore, PhoneNumber,
    PoolKind, PoolSender, Refused, SenderFilter, SenderStore, Service, ServiceRecord, ServiceSettings, ShortCode,
    SmsWebhooks,
};
use crate::store::{Cursor, StoreResult};
use anyhow::anyhow;
use async_trait::async_trait;
use tokio_postgres::Row;

// --- row mapping -----------------------------------------------------------------------------

const POOL_COLUMNS: &str = "sid, service_sid, kind, address, country_code, date_created";

fn pool_from_row(r: &Row) -> anyhow::Result<PoolSender> {
    let kind: String = r.try_get(2)?;
    Ok(PoolSender {
        sid: r.try_get(0)?,
        service_sid: r.try_get(1)?,
        kind: PoolKind::parse(&kind).ok_or_else(|| anyhow!("bad pool kind {kind:?}"))?,
        address: r.try_get(3)?,
        country_code: r.try_get(4)?,
        date_created: r.try_get(5)?,
    })
}

// --- SQL helpers -----------------------------------------------------------------------------

/// A query under construction: SQL and its arguments (placeholders numbered as bound).
struct Sql {
    sql: String,
    args: Vec<Arg>,
}

impl Sql {
    fn arg(&mut self, v: impl tokio_postgres::types::ToSql + Sync + Send + 'static) -> String {
        self.args.push(Box::new(v));
        format!("${}", self.args.len())
    }
}

/// Appends the keyset condition, order and limit of a creation-order list whose rows all carry
/// `prefix`; returns true when rows come back in reverse list order (a previous page).
fn page_clause(q: &mut Sql, prefix: &str, cursor: &Cursor, limit: usize) -> bool {
    let reversed = match cursor {
        Cursor::Start => false,
        Cursor::After(key) => {
            let p = q.arg(format!("{prefix}{}", key.to_ascii_lowercase()));
            q.sql.push_str(&format!(" AND sid > {p}"));
            false
        }
        Cursor::Before(key) => {
            let p = q.arg(format!("{prefix}{}", key.to_ascii_lowercase()));
            q.sql.push_str(&format!(" AND sid < {p}"));
            true
        }
    };
    let p = q.arg(i64::try_from(limit).unwrap_or(i64::MAX));
    q.sql.push_str(&format!(" ORDER BY sid {} LIMIT {p}", if reversed { "DESC" } else { "ASC" }));
    reversed
}

/// Runs a list query built by [`page_clause`] and returns its rows in list order.
async fn run_list<T>(c: &Conn, q: &Sql, reversed: bool, map: fn(&Row) -> anyhow::Result<T>) -> anyhow::Result<Vec<T>> {
    let mut out = query(c, &q.sql, &bind(&q.args)).await?.iter().map(map).collect::<anyhow::Result<Vec<T>>>()?;
    if reversed {
        out.reverse();
    }
    Ok(out)
}

/// Adds the filters of a number or short-code list (`column` holds the address).
fn filter_clause(q: &mut Sql, column: &str, f: &SenderFilter) {
    if let Some(digits) = &f.address_contains {
        // Only digits and `*` reach here; `*` is "any one digit", i.e. LIKE's `_`.
        let p = q.arg(format!("%{}%", digits.replace('*', "_")));
        q.sql.push_str(&format!(" AND {column} LIKE {p}"));
    }
    if let Some(name) = &f.friendly_name {
        let p = q.arg(name.clone());
        q.sql.push_str(&format!(" AND friendly_name = {p}"));
    }
}

/// The sender part of a `From` (`whatsapp:+1…` is sent from the number `+1…`).
fn bare(address: &str) -> String {
    address.rsplit(':').next().unwrap_or(address).trim().to_string()
}

// --- phone numbers and short codes ------------------------------------------------------------

/// What phone numbers and short codes share in storage (see the SQLite engine's twin).
pub(crate) trait NumberKind: Record {
    /// The column holding what goes in `From` (unique per account).
    const ADDRESS: &'static str;
    /// Its SID, account and address.
    fn key(&self) -> (&str, &str, &str);
}

/// A sender record stored in one table of its own, keyed by SID within an account, whose
/// columns split into those written once and those an update may change.
pub(crate) trait Record: Sized + Send + Sync + 'static {
    /// Its table.
    const TABLE: &'static str;
    /// Its SID prefix.
    const PREFIX: &'static str;
    /// Reads a `SELECT *` row.
    fn from_row(r: &Row) -> anyhow::Result<Self>;
    /// The columns written once, at creation.
    fn fixed(&self) -> Vec<(&'static str, Arg)>;
    /// The columns an update may change.
    fn settable(&self) -> anyhow::Result<Vec<(&'static str, Arg)>>;
}

fn text(s: &str) -> Arg {
    Box::new(s.to_string())
}

fn opt_text(s: Option<&str>) -> Arg {
    Box::new(s.map(str::to_string))
}

fn webhooks_from_row(r: &Row) -> anyhow::Result<SmsWebhooks> {
    Ok(SmsWebhooks {
        url: r.try_get("sms_url")?,
        method: r.try_get("sms_method")?,
        fallback_url: r.try_get("sms_fallback_url")?,
        fallback_method: r.try_get("sms_fallback_method")?,
    })
}

fn webhook_columns(w: &SmsWebhooks) -> [(&'static str, Arg); 4] {
    [
        ("sms_url", opt_text(w.url.as_deref())),
        ("sms_method", text(&w.method)),
        ("sms_fallback_url", opt_text(w.fallback_url.as_deref())),
        ("sms_fallback_method", text(&w.fallback_method)),
    ]
}

impl NumberKind for IncomingNumber {
    const ADDRESS: &'static str = "phone_number";

    fn key(&self) -> (&str, &str, &str) {
        (&self.number.sid, &self.number.account_sid, &self.number.phone_number)
    }
}

impl Record for IncomingNumber {
    const TABLE: &'static str = "phone_numbers";
    const PREFIX: &'static str = "PN";

    fn from_row(r: &Row) -> anyhow::Result<Self> {
        let settings: String = r.try_get("settings")?;
        Ok(IncomingNumber {
            number: PhoneNumber {
                sid: r.try_get("sid")?,
                account_sid: r.try_get("account_sid")?,
                phone_number: r.try_get("phone_number")?,
                friendly_name: r.try_get("friendly_name")?,
                sms: webhooks_from_row(r)?,
                date_created: r.try_get("date_created")?,
                date_updated: r.try_get("date_updated")?,
            },
            settings: serde_json::from_str::<NumberSettings>(&settings)
                .map_err(|e| anyhow!("bad number settings: {e}"))?,
        })
    }

    fn fixed(&self) -> Vec<(&'static str, Arg)> {
        let n = &self.number;
        vec![
            ("sid", text(&n.sid)),
            ("account_sid", text(&n.account_sid)),
            ("phone_number", text(&n.phone_number)),
            ("date_created", Box::new(n.date_created)),
        ]
    }

    fn settable(&self) -> anyhow::Result<Vec<(&'static str, Arg)>> {
        let n = &self.number;
        let mut cols = vec![("friendly_name", text(&n.friendly_name))];
        cols.extend(webhook_columns(&n.sms));
        cols.push(("settings", Box::new(serde_json::to_string(&self.settings)?)));
        cols.push(("date_updated", Box::new(n.date_updated)));
        Ok(cols)
    }
}

impl NumberKind for ShortCode {
    const ADDRESS: &'static str = "short_code";

    fn key(&self) -> (&str, &str, &str) {
        (&self.sid, &self.account_sid, &self.short_code)
    }
}

impl Record for ShortCode {
    const TABLE: &'static str = "short_codes";
    const PREFIX: &'static str = "SC";

    fn from_row(r: &Row) -> anyhow::Result<Self> {
        Ok(ShortCode {
            sid: r.try_get("sid")?,
            account_sid: r.try_get("account_sid")?,
            short_code: r.try_get("short_code")?,
            country_code: r.try_get("country_code")?,
            friendly_name: r.try_get("friendly_name")?,
            sms: webhooks_from_row(r)?,
            api_version: r.try_get("api_version")?,
            date_created: r.try_get("date_created")?,
            date_updated: r.try_get("date_updated")?,
        })
    }

    fn fixed(&self) -> Vec<(&'static str, Arg)> {
        vec![
            ("sid", text(&self.sid)),
            ("account_sid", text(&self.account_sid)),
            ("short_code", text(&self.short_code)),
            ("country_code", text(&self.country_code)),
            ("date_created", Box::new(self.date_created)),
        ]
    }

    fn settable(&self) -> anyhow::Result<Vec<(&'static str, Arg)>> {
        let mut cols = vec![("friendly_name", text(&self.friendly_name))];
        cols.extend(webhook_columns(&self.sms));
        cols.push(("api_version", text(&self.api_version)));
        cols.push(("date_updated", Box::new(self.date_updated)));
        Ok(cols)
    }
}

impl Record for ServiceRecord {
    const TABLE: &'static str = "services";
    const PREFIX: &'static str = "MG";

    fn from_row(r: &Row) -> anyhow::Result<Self> {
        let settings: String = r.try_get("settings")?;
        Ok(ServiceRecord {
            service: Service {
                sid: r.try_get("sid")?,
                account_sid: r.try_get("account_sid")?,
                friendly_name: r.try_get("friendly_name")?,
                inbound_request_url: r.try_get("inbound_request_url")?,
                inbound_method: r.try_get("inbound_method")?,
                fallback_url: r.try_get("fallback_url")?,
                fallback_method: r.try_get("fallback_method")?,
                status_callback: r.try_get("status_callback")?,
                sticky_sender: r.try_get("sticky_sender")?,
                smart_encoding: r.try_get("smart_encoding")?,
                area_code_geomatch: r.try_get("area_code_geomatch")?,
                validity_period: to_u32(r.try_get("validity_period")?)?,
                use_inbound_webhook_on_number: r.try_get("use_inbound_webhook_on_number")?,
                date_created: r.try_get("date_created")?,
                date_updated: r.try_get("date_updated")?,
            },
            settings: serde_json::from_str::<ServiceSettings>(&settings)
                .map_err(|e| anyhow!("bad service settings: {e}"))?,
        })
    }

    fn fixed(&self) -> Vec<(&'static str, Arg)> {
        let s = &self.service;
        vec![("sid", text(&s.sid)), ("account_sid", text(&s.account_sid)), ("date_created", Box::new(s.date_created))]
    }

    fn settable(&self) -> anyhow::Result<Vec<(&'static str, Arg)>> {
        let s = &self.service;
        Ok(vec![
            ("friendly_name", text(&s.friendly_name)),
            ("inbound_request_url", opt_text(s.inbound_request_url.as_deref())),
            ("inbound_method", text(&s.inbound_method)),
            ("fallback_url", opt_text(s.fallback_url.as_deref())),
            ("fallback_method", text(&s.fallback_method)),
            ("status_callback", opt_text(s.status_callback.as_deref())),
            ("sticky_sender", Box::new(s.sticky_sender)),
            ("smart_encoding", Box::new(s.smart_encoding)),
            ("area_code_geomatch", Box::new(s.area_code_geomatch)),
            ("validity_period", Box::new(i64::from(s.validity_period))),
            ("use_inbound_webhook_on_number", Box::new(s.use_inbound_webhook_on_number)),
            ("settings", Box::new(serde_json::to_string(&self.settings)?)),
            ("date_updated", Box::new(s.date_updated)),
        ])
    }
}

async fn get_record<K: Record>(c: &Conn, account: &str, sid: &str, for_update: bool) -> anyhow::Result<Option<K>> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT * FROM {} WHERE sid = $1 AND account_sid = $2{lock}", K::TABLE);
    query_opt(c, &sql, &[&sid, &account]).await?.as_ref().map(K::from_row).transpose()
}

async fn get_service(c: &Conn, account: &str, sid: &str) -> anyhow::Result<Option<ServiceRecord>> {
    get_record(c, account, sid, false).await
}

async fn number_by_address<K: NumberKind>(c: &Conn, account: &str, address: &str) -> anyhow::Result<Option<K>> {
    let sql = format!("SELECT * FROM {} WHERE account_sid = $1 AND {} = $2", K::TABLE, K::ADDRESS);
    query_opt(c, &sql, &[&account, &address]).await?.as_ref().map(K::from_row).transpose()
}

/// Inserts a new number or short code unless the account already has its address (the unique
/// index decides between concurrent inserts; the loser is told which SID holds it).
async fn insert_number<K: NumberKind>(c: &Conn, record: &K) -> anyhow::Result<Result<(), Refused>> {
    let (_, account, address) = record.key();
    if insert_record(c, record, true).await? {
        return Ok(Ok(()));
    }
    match number_by_address::<K>(c, account, address).await? {
        Some(existing) => Ok(Err(Refused::Duplicate(existing.key().0.to_string()))),
        None => Err(anyhow!("{} {} was neither inserted nor found", K::TABLE, address)),
    }
}

/// Inserts a new record with all its columns; with `skip_duplicate`, a row that would break a
/// unique index is not inserted (false) instead of failing the transaction.
async fn insert_record<R: Record>(c: &Conn, record: &R, skip_duplicate: bool) -> anyhow::Result<bool> {
    let mut cols = record.fixed();
    cols.extend(record.settable()?);
    let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
    let marks: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
    let conflict = if skip_duplicate { " ON CONFLICT DO NOTHING" } else { "" };
    let sql = format!("INSERT INTO {} ({}) VALUES ({}){conflict}", R::TABLE, names.join(", "), marks.join(", "));
    let args: Vec<Arg> = cols.into_iter().map(|(_, v)| v).collect();
    Ok(execute(c, &sql, &bind(&args)).await? == 1)
}

/// Applies `edit` to a record (locked) and stores only its settable columns, so identity never
/// changes; answers the row as stored.
async fn update_record<K: Record>(c: &Conn, account: &str, sid: &str, edit: Edit<K>) -> anyhow::Result<Option<K>> {
    let Some(mut record) = get_record::<K>(c, account, sid, true).await? else { return Ok(None) };
    edit(&mut record);
    let cols = record.settable()?;
    let sets: Vec<String> = cols.iter().enumerate().map(|(i, (n, _))| format!("{n} = ${}", i + 1)).collect();
    let n = cols.len();
    let sql =
        format!("UPDATE {} SET {} WHERE sid = ${} AND account_sid = ${}", K::TABLE, sets.join(", "), n + 1, n + 2);
    let args: Vec<Arg> = cols.into_iter().map(|(_, v)| v).chain([text(sid), text(account)]).collect();
    execute(c, &sql, &bind(&args)).await?;
    get_record::<K>(c, account, sid, false).await
}

/// Deletes a number or short code and takes it out of its pool.
async fn delete_number<K: NumberKind>(c: &Conn, account: &str, sid: &str) -> anyhow::Result<bool> {
    let sql = format!("DELETE FROM {} WHERE sid = $1 AND account_sid = $2", K::TABLE);
    let gone = execute(c, &sql, &[&sid, &account]).await?;
    if gone == 1 {
        execute(c, "DELETE FROM pool_senders WHERE sid = $1", &[&sid]).await?;
    }
    Ok(gone == 1)
}

/// The list query of a kind of record, narrowed by a number filter on the address column.
fn list_sql<R: Record>(
    account: &str,
    filter: Option<(&str, &SenderFilter)>,
    cursor: &Cursor,
    limit: usize,
) -> (Sql, bool) {
    let mut q = Sql { sql: format!("SELECT * FROM {} WHERE account_sid = $1", R::TABLE), args: vec![text(account)] };
    if let Some((column, filter)) = filter {
        filter_clause(&mut q, column, filter);
    }
    let reversed = page_clause(&mut q, R::PREFIX, cursor, limit);
    (q, reversed)
}

#[async_trait]
impl<K: NumberKind> NumberStore<K> for PgStore {
    async fn insert_number(&self, record: K) -> StoreResult<Result<(), Refused>> {
        self.write(move |c| Box::pin(async move { insert_number(c, &record).await })).await
    }

    async fn number(&self, account_sid: &str, sid: &str) -> StoreResult<Option<K>> {
        let Some(sid) = normalize_sid(sid, K::PREFIX) else { return Ok(None) };
        let account = account_sid.to_string();
        self.read(move |c| Box::pin(async move { get_record(c, &account, &sid, false).await })).await
    }

    async fn list_numbers(
        &self,
        account_sid: &str,
        filter: &SenderFilter,
        cursor: &Cursor,
        limit: usize,
    ) -> StoreResult<Vec<K>> {
        let (q, reversed) = list_sql::<K>(account_sid, Some((K::ADDRESS, filter)), cursor, limit);
        self.read(move |c| Box::pin(async move { run_list(c, &q, reversed, K::from_row).await })).await
    }

    async fn update_number(&self, account_sid: &str, sid: &str, edit: Edit<K>) -> StoreResult<Option<K>> {
        let Some(sid) = normalize_sid(sid, K::PREFIX) else { return Ok(None) };
        let account = account_sid.to_string();
        self.write(move |c| Box::pin(async move { update_record(c, &account, &sid, edit).await })).await
    }

    async fn delete_number(&self, account_sid: &str, sid: &str) -> StoreResult<bool> {
        let Some(sid) = normalize_sid(sid, K::PREFIX) else { return Ok(false) };
        let account = account_sid.to_string();
        self.write(move |c| Box::pin(async move { delete_number::<K>(c, &account, &sid).await })).await
    }
}

/// The checks and the insert of [`SenderStore::add_to_pool`], inside one write job.
async fn add_pool_member(
    c: &Conn,
    account: &str,
    service_sid: &str,
    sender: NewPoolSender,
    now_ms: i64,
) -> anyhow::Result<Result<PoolSender, Refused>> {
    let Some(service_sid) = normalize_sid(service_sid, "MG") else { return Ok(Err(Refused::NoService)) };
    // The service row, locked: two adds to one pool (the alpha-sender rule) go one at a time.
    if get_record::<ServiceRecord>(c, account, &service_sid, true).await?.is_none() {
        return Ok(Err(Refused::NoService));
    }
    let (sid, kind, address, country_code) = match sender {
        NewPoolSender::PhoneNumber(sid) => {
            let Some(sid) = normalize_sid(&sid, "PN") else { return Ok(Err(Refused::NoSender)) };
            let Some(n) = get_record::<IncomingNumber>(c, account, &sid, true).await? else {
                return Ok(Err(Refused::NoSender));
            };
            let country = pool_country(&n.number.phone_number);
            (sid, PoolKind::PhoneNumber, n.number.phone_number, country)
        }
        NewPoolSender::ShortCode(sid) => {
            let Some(sid) = normalize_sid(&sid, "SC") else { return Ok(Err(Refused::NoSender)) };
            let Some(sc) = get_record::<ShortCode>(c, account, &sid, true).await? else {
                return Ok(Err(Refused::NoSender));
            };
            (sid, PoolKind::ShortCode, sc.short_code, Some(sc.country_code))
        }
        NewPoolSender::AlphaSender { sid, alpha_sender } => (sid, PoolKind::AlphaSender, alpha_sender, None),
    };
    let holder = query_opt(
        c,
        "SELECT service_sid FROM pool_senders WHERE account_sid = $1 AND (address = $2 OR sid = $3)",
        &[&account, &address, &sid],
    )
    .await?;
    if let Some(row) = holder {
        let s: String = row.try_get(0)?;
        return Ok(Err(if s == service_sid { Refused::AlreadyInService } else { Refused::InOtherService(s) }));
    }
    if kind == PoolKind::AlphaSender {
        let taken = query_opt(
            c,
            "SELECT sid FROM pool_senders WHERE service_sid = $1 AND kind = $2",
            &[&service_sid, &kind.as_str()],
        )
        .await?;
        if let Some(row) = taken {
            return Ok(Err(Refused::AlphaSenderTaken(row.try_get(0)?)));
        }
    }
    let member = PoolSender { sid, service_sid, kind, address, country_code, date_created: now_ms };
    execute(
        c,
        "INSERT INTO pool_senders (sid, account_sid, service_sid, kind, address, country_code, date_created)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &member.sid,
            &account,
            &member.service_sid,
            &member.kind.as_str(),
            &member.address,
            &member.country_code,
            &member.date_created,
        ],
    )
    .await?;
    Ok(Ok(member))
}

#[async_trait]
impl SenderStore for PgStore {
    // --- the lookups of the message flow -----------------------------------------------------

    async fn service(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Service>> {
        let Some(sid) = normalize_sid(sid, "MG") else { return Ok(None) };
        let account = account_sid.to_string();
        self.read(move |c| Box::pin(async move { Ok(get_service(c, &account, &sid).await?.map(|r| r.service)) })).await
    }

    async fn pool(&self, service_sid: &str) -> StoreResult<Vec<PoolSender>> {
        let Some(service) = normalize_sid(service_sid, "MG") else { return Ok(Vec::new()) };
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {POOL_COLUMNS} FROM pool_senders WHERE service_sid = $1 ORDER BY date_created, sid"
                );
                let mut pool =
                    query(c, &sql, &[&service]).await?.iter().map(pool_from_row).collect::<anyhow::Result<Vec<_>>>()?;
                // SIDs are time-ordered after their two-letter prefix, which differs by kind:
                // break same-millisecond ties on the hex part so the pool lists in build order.
                pool.sort_by(|a, b| (a.date_created, a.sid.get(2..)).cmp(&(b.date_created, b.sid.get(2..))));
                Ok(pool)
            })
        })
        .await
    }

    async fn phone_number_by_address(&self, account_sid: &str, address: &str) -> StoreResult<Option<PhoneNumber>> {
        let (account, address) = (account_sid.to_string(), bare(address));
        self.read(move |c| {
            Box::pin(
                async move { Ok(number_by_address::<IncomingNumber>(c, &account, &address).await?.map(|n| n.number)) },
            )
        })
        .await
    }

    async fn service_of_sender(&self, account_sid: &str, address: &str) -> StoreResult<Option<Service>> {
        let (account, address) = (account_sid.to_string(), bare(address));
        self.read(move |c| {
            Box::pin(async move {
                let holder = query_opt(
                    c,
                    "SELECT service_sid FROM pool_senders WHERE account_sid = $1 AND address = $2",
                    &[&account, &address],
                )
                .await?;
                match holder {
                    Some(row) => {
                        let sid: String = row.try_get(0)?;
                        Ok(get_service(c, &account, &sid).await?.map(|r| r.service))
                    }
                    None => Ok(None),
                }
            })
        })
        .await
    }

    async fn owns_sender(&self, account_sid: &str, address: &str) -> StoreResult<bool> {
        let (account, address) = (account_sid.to_string(), bare(address));
        self.read(move |c| {
            Box::pin(async move {
                let row = query_opt(
                    c,
                    "SELECT EXISTS (SELECT 1 FROM phone_numbers WHERE account_sid = $1 AND phone_number = $2)
                         OR EXISTS (SELECT 1 FROM short_codes WHERE account_sid = $1 AND short_code = $2)
                         OR EXISTS (SELECT 1 FROM pool_senders
                                    WHERE account_sid = $1 AND address = $2 AND kind = 'alpha_sender')",
                    &[&account, &address],
                )
                .await?;
                Ok(row.map(|r| r.try_get::<_, bool>(0)).transpose()?.unwrap_or(false))
            })
        })
        .await
    }

    // --- Messaging Services ------------------------------------------------------------------

    async fn insert_service(&self, r: ServiceRecord) -> StoreResult<()> {
        self.write(move |c| Box::pin(async move { insert_record(c, &r, false).await.map(|_| ()) })).await
    }

    async fn service_record(&self, account_sid: &str, sid: &str) -> StoreResult<Option<ServiceRecord>> {
        let Some(sid) = normalize_sid(sid, "MG") else { return Ok(None) };
        let account = account_sid.to_string();
        self.read(move |c| Box::pin(async move { get_service(c, &account, &sid).await })).await
    }

    async fn list_services(&self, account_sid: &str, cursor: &Cursor, limit: usize) -> StoreResult<Vec<ServiceRecord>> {
        let (q, reversed) = list_sql::<ServiceRecord>(account_sid, None, cursor, limit);
        self.read(move |c| Box::pin(async move { run_list(c, &q, reversed, ServiceRecord::from_row).await })).await
    }

    async fn update_service(
        &self,
        account_sid: &str,
        sid: &str,
        edit: Edit<ServiceRecord>,
    ) -> StoreResult<Option<ServiceRecord>> {
        let Some(sid) = normalize_sid(sid, "MG") else { return Ok(None) };
        let account = account_sid.to_string();
        self.write(move |c| Box::pin(async move { update_record(c, &account, &sid, edit).await })).await
    }

    async fn delete_service(&self, account_sid: &str, sid: &str) -> StoreResult<bool> {
        let Some(sid) = normalize_sid(sid, "MG") else { return Ok(false) };
        let account = account_sid.to_string();
        self.write(move |c| {
            Box::pin(async move {
                let gone =
                    execute(c, "DELETE FROM services WHERE sid = $1 AND account_sid = $2", &[&sid, &account]).await?;
                if gone == 1 {
                    execute(c, "DELETE FROM pool_senders WHERE service_sid = $1", &[&sid]).await?;
                }
                Ok(gone == 1)
            })
        })
        .await
    }

    // --- sender pools ------------------------------------------------------------------------

    async fn add_to_pool(
        &self,
        account_sid: &str,
        service_sid: &str,
        sender: NewPoolSender,
        now_ms: i64,
    ) -> StoreResult<Result<PoolSender, Refused>> {
        let (account, service) = (account_sid.to_string(), service_sid.to_string());
        self.write(move |c| Box::pin(async move { add_pool_member(c, &account, &service, sender, now_ms).await })).await
    }

    async fn pool_sender(
        &self,
        account_sid: &str,
        service_sid: &str,
        kind: PoolKind,
        sid: &str,
    ) -> StoreResult<Option<PoolSender>> {
        let (Some(service), Some(sid)) = (normalize_sid(service_sid, "MG"), normalize_sid(sid, kind.sid_prefix()))
        else {
            return Ok(None);
        };
        let account = account_sid.to_string();
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {POOL_COLUMNS} FROM pool_senders
                     WHERE sid = $1 AND service_sid = $2 AND account_sid = $3 AND kind = $4"
                );
                query_opt(c, &sql, &[&sid, &service, &account, &kind.as_str()])
                    .await?
                    .as_ref()
                    .map(pool_from_row)
                    .transpose()
            })
        })
        .await
    }

    async fn list_pool(
        &self,
        account_sid: &str,
        service_sid: &str,
        kind: PoolKind,
        cursor: &Cursor,
        limit: usize,
    ) -> StoreResult<Option<Vec<PoolSender>>> {
        let Some(service) = normalize_sid(service_sid, "MG") else { return Ok(None) };
        let account = account_sid.to_string();
        let mut q = Sql {
            sql: format!("SELECT {POOL_COLUMNS} FROM pool_senders WHERE service_sid = $1 AND kind = $2"),
            args: vec![text(&service), text(kind.as_str())],
        };
        let reversed = page_clause(&mut q, kind.sid_prefix(), cursor, limit);
        self.read(move |c| {
            Box::pin(async move {
                if get_service(c, &account, &service).await?.is_none() {
                    return Ok(None);
                }
                run_list(c, &q, reversed, pool_from_row).await.map(Some)
            })
        })
        .await
    }

    async fn remove_from_pool(
        &self,
        account_sid: &str,
        service_sid: &str,
        kind: PoolKind,
        sid: &str,
    ) -> StoreResult<bool> {
        let (Some(service), Some(sid)) = (normalize_sid(service_sid, "MG"), normalize_sid(sid, kind.sid_prefix()))
        else {
            return Ok(false);
        };
        let account = account_sid.to_string();
        self.write(move |c| {
            Box::pin(async move {
                let gone = execute(
                    c,
                    "DELETE FROM pool_senders WHERE sid = $1 AND service_sid = $2 AND account_sid = $3 AND kind = $4",
                    &[&sid, &service, &account, &kind.as_str()],
                )
                .await?;
                Ok(gone == 1)
            })
        })
        .await
    }
}
