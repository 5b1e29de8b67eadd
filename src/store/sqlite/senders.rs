//! SQLite implementation of [`SenderStore`]: phone numbers, short codes, Messaging Services and
//! their sender pools (schema: `migrations/sqlite/0003_senders.sql`).
//!
//! SIDs are stored as `prefix + lowercase key`; every SID that comes in is normalised the same
//! way first (an ill-formed one simply finds nothing).

use super::SqliteStore;
use crate::store::senders::{
    normalize_sid, pool_country, Edit, IncomingNumber, NewPoolSender, NumberSettings, NumberStore, PhoneNumber,
    PoolKind, PoolSender, Refused, SenderFilter, SenderStore, Service, ServiceRecord, ServiceSettings, ShortCode,
    SmsWebhooks,
};
use crate::store::{Cursor, StoreResult};
use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

// --- row mapping -----------------------------------------------------------------------------

const POOL_COLUMNS: &str = "sid, service_sid, kind, address, country_code, date_created";

fn bad(what: &str, detail: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, format!("bad {what}: {detail}").into())
}

fn pool_from_row(r: &Row<'_>) -> rusqlite::Result<PoolSender> {
    let kind: String = r.get(2)?;
    Ok(PoolSender {
        sid: r.get(0)?,
        service_sid: r.get(1)?,
        kind: PoolKind::parse(&kind).ok_or_else(|| bad("pool kind", kind.clone()))?,
        address: r.get(3)?,
        country_code: r.get(4)?,
        date_created: r.get(5)?,
    })
}

// --- SQL helpers -----------------------------------------------------------------------------

/// Appends the keyset condition, order and limit of a creation-order list whose rows all carry
/// `prefix`; returns true when rows come back in reverse list order (a previous page).
fn page_clause(sql: &mut String, args: &mut Vec<Value>, prefix: &str, cursor: &Cursor, limit: usize) -> bool {
    let reversed = match cursor {
        Cursor::Start => false,
        Cursor::After(key) => {
            sql.push_str(" AND sid > ?");
            args.push(Value::Text(format!("{prefix}{}", key.to_ascii_lowercase())));
            false
        }
        Cursor::Before(key) => {
            sql.push_str(" AND sid < ?");
            args.push(Value::Text(format!("{prefix}{}", key.to_ascii_lowercase())));
            true
        }
    };
    sql.push_str(if reversed { " ORDER BY sid DESC LIMIT ?" } else { " ORDER BY sid ASC LIMIT ?" });
    args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    reversed
}

/// Runs a list query built by [`page_clause`] and returns its rows in list order.
fn run_list<T>(
    c: &Connection,
    sql: &str,
    args: Vec<Value>,
    reversed: bool,
    map: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> anyhow::Result<Vec<T>> {
    let mut st = c.prepare_cached(sql)?;
    let mut out: Vec<T> = st.query_map(params_from_iter(args), map)?.collect::<Result<_, _>>()?;
    if reversed {
        out.reverse();
    }
    Ok(out)
}

/// A list query: SQL, arguments, and whether rows come back in reverse list order.
type ListSql = (String, Vec<Value>, bool);

fn pool_list_sql(service: &str, kind: PoolKind, cursor: &Cursor, limit: usize) -> ListSql {
    let mut sql = format!("SELECT {POOL_COLUMNS} FROM pool_senders WHERE service_sid = ? AND kind = ?");
    let mut args = vec![Value::Text(service.to_string()), Value::Text(kind.as_str().to_string())];
    let reversed = page_clause(&mut sql, &mut args, kind.sid_prefix(), cursor, limit);
    (sql, args, reversed)
}

/// The whole pool of a service, oldest member first.
const POOL_SQL: &str = "SELECT sid, service_sid, kind, address, country_code, date_created FROM pool_senders \
     WHERE service_sid = ?1 ORDER BY date_created, sid";

/// Adds the filters of a number or short-code list (`column` holds the address).
fn filter_clause(sql: &mut String, args: &mut Vec<Value>, column: &str, f: &SenderFilter) {
    if let Some(digits) = &f.address_contains {
        // Only digits and `*` reach here; `*` is "any one digit", i.e. LIKE's `_`.
        sql.push_str(&format!(" AND {column} LIKE ?"));
        args.push(Value::Text(format!("%{}%", digits.replace('*', "_"))));
    }
    if let Some(name) = &f.friendly_name {
        sql.push_str(" AND friendly_name = ?");
        args.push(Value::Text(name.clone()));
    }
}

/// The sender part of a `From` (`whatsapp:+1…` is sent from the number `+1…`).
fn bare(address: &str) -> String {
    address.rsplit(':').next().unwrap_or(address).trim().to_string()
}

fn get_service(c: &Connection, account: &str, sid: &str) -> anyhow::Result<Option<ServiceRecord>> {
    get_record(c, account, sid)
}

// --- phone numbers and short codes ------------------------------------------------------------

/// What phone numbers and short codes share in storage: a table each, keyed by SID, with the
/// address unique per account, the SMS webhooks, the address and friendly-name filters, paging in
/// creation order, and removal from their pool on delete. Rows are read by column name, so each
/// kind names its columns once, in [`NumberKind::fixed`] and [`NumberKind::settable`].
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
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self>;
    /// The columns written once, at creation.
    fn fixed(&self) -> Vec<(&'static str, Value)>;
    /// The columns an update may change.
    fn settable(&self) -> anyhow::Result<Vec<(&'static str, Value)>>;
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn opt_text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, text)
}

impl SmsWebhooks {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<SmsWebhooks> {
        Ok(SmsWebhooks {
            url: r.get("sms_url")?,
            method: r.get("sms_method")?,
            fallback_url: r.get("sms_fallback_url")?,
            fallback_method: r.get("sms_fallback_method")?,
        })
    }

    fn columns(&self) -> [(&'static str, Value); 4] {
        [
            ("sms_url", opt_text(self.url.as_deref())),
            ("sms_method", text(&self.method)),
            ("sms_fallback_url", opt_text(self.fallback_url.as_deref())),
            ("sms_fallback_method", text(&self.fallback_method)),
        ]
    }
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

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        let settings: String = r.get("settings")?;
        Ok(IncomingNumber {
            number: PhoneNumber {
                sid: r.get("sid")?,
                account_sid: r.get("account_sid")?,
                phone_number: r.get("phone_number")?,
                friendly_name: r.get("friendly_name")?,
                sms: SmsWebhooks::from_row(r)?,
                date_created: r.get("date_created")?,
                date_updated: r.get("date_updated")?,
            },
            settings: serde_json::from_str::<NumberSettings>(&settings)
                .map_err(|e| bad("number settings", e.to_string()))?,
        })
    }

    fn fixed(&self) -> Vec<(&'static str, Value)> {
        let n = &self.number;
        vec![
            ("sid", text(&n.sid)),
            ("account_sid", text(&n.account_sid)),
            ("phone_number", text(&n.phone_number)),
            ("date_created", Value::Integer(n.date_created)),
        ]
    }

    fn settable(&self) -> anyhow::Result<Vec<(&'static str, Value)>> {
        let n = &self.number;
        let mut cols = vec![("friendly_name", text(&n.friendly_name))];
        cols.extend(n.sms.columns());
        cols.push(("settings", Value::Text(serde_json::to_string(&self.settings)?)));
        cols.push(("date_updated", Value::Integer(n.date_updated)));
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

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(ShortCode {
            sid: r.get("sid")?,
            account_sid: r.get("account_sid")?,
            short_code: r.get("short_code")?,
            country_code: r.get("country_code")?,
            friendly_name: r.get("friendly_name")?,
            sms: SmsWebhooks::from_row(r)?,
            api_version: r.get("api_version")?,
            date_created: r.get("date_created")?,
            date_updated: r.get("date_updated")?,
        })
    }

    fn fixed(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("sid", text(&self.sid)),
            ("account_sid", text(&self.account_sid)),
            ("short_code", text(&self.short_code)),
            ("country_code", text(&self.country_code)),
            ("date_created", Value::Integer(self.date_created)),
        ]
    }

    fn settable(&self) -> anyhow::Result<Vec<(&'static str, Value)>> {
        let mut cols = vec![("friendly_name", text(&self.friendly_name))];
        cols.extend(self.sms.columns());
        cols.push(("api_version", text(&self.api_version)));
        cols.push(("date_updated", Value::Integer(self.date_updated)));
        Ok(cols)
    }
}

impl Record for ServiceRecord {
    const TABLE: &'static str = "services";
    const PREFIX: &'static str = "MG";

    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        let settings: String = r.get("settings")?;
        Ok(ServiceRecord {
            service: Service {
                sid: r.get("sid")?,
                account_sid: r.get("account_sid")?,
                friendly_name: r.get("friendly_name")?,
                inbound_request_url: r.get("inbound_request_url")?,
                inbound_method: r.get("inbound_method")?,
                fallback_url: r.get("fallback_url")?,
                fallback_method: r.get("fallback_method")?,
                status_callback: r.get("status_callback")?,
                sticky_sender: r.get("sticky_sender")?,
                smart_encoding: r.get("smart_encoding")?,
                area_code_geomatch: r.get("area_code_geomatch")?,
                validity_period: r.get("validity_period")?,
                use_inbound_webhook_on_number: r.get("use_inbound_webhook_on_number")?,
                date_created: r.get("date_created")?,
                date_updated: r.get("date_updated")?,
            },
            settings: serde_json::from_str::<ServiceSettings>(&settings)
                .map_err(|e| bad("service settings", e.to_string()))?,
        })
    }

    fn fixed(&self) -> Vec<(&'static str, Value)> {
        let s = &self.service;
        vec![
            ("sid", text(&s.sid)),
            ("account_sid", text(&s.account_sid)),
            ("date_created", Value::Integer(s.date_created)),
        ]
    }

    fn settable(&self) -> anyhow::Result<Vec<(&'static str, Value)>> {
        let s = &self.service;
        Ok(vec![
            ("friendly_name", text(&s.friendly_name)),
            ("inbound_request_url", opt_text(s.inbound_request_url.as_deref())),
            ("inbound_method", text(&s.inbound_method)),
            ("fallback_url", opt_text(s.fallback_url.as_deref())),
            ("fallback_method", text(&s.fallback_method)),
            ("status_callback", opt_text(s.status_callback.as_deref())),
            ("sticky_sender", Value::Integer(i64::from(s.sticky_sender))),
            ("smart_encoding", Value::Integer(i64::from(s.smart_encoding))),
            ("area_code_geomatch", Value::Integer(i64::from(s.area_code_geomatch))),
            ("validity_period", Value::Integer(i64::from(s.validity_period))),
            ("use_inbound_webhook_on_number", Value::Integer(i64::from(s.use_inbound_webhook_on_number))),
            ("settings", Value::Text(serde_json::to_string(&self.settings)?)),
            ("date_updated", Value::Integer(s.date_updated)),
        ])
    }
}

fn get_record<K: Record>(c: &Connection, account: &str, sid: &str) -> anyhow::Result<Option<K>> {
    let sql = format!("SELECT * FROM {} WHERE sid = ?1 AND account_sid = ?2", K::TABLE);
    Ok(c.prepare_cached(&sql)?.query_row(params![sid, account], K::from_row).optional()?)
}

fn number_by_address<K: NumberKind>(c: &Connection, account: &str, address: &str) -> anyhow::Result<Option<K>> {
    let sql = format!("SELECT * FROM {} WHERE account_sid = ?1 AND {} = ?2", K::TABLE, K::ADDRESS);
    Ok(c.prepare_cached(&sql)?.query_row(params![account, address], K::from_row).optional()?)
}

/// Inserts a new number or short code unless the account already has its address.
fn insert_number<K: NumberKind>(c: &Connection, record: &K) -> anyhow::Result<Result<(), Refused>> {
    let (_, account, address) = record.key();
    if let Some(existing) = number_by_address::<K>(c, account, address)? {
        return Ok(Err(Refused::Duplicate(existing.key().0.to_string())));
    }
    insert_record(c, record)?;
    Ok(Ok(()))
}

/// Inserts a new record with all its columns.
fn insert_record<R: Record>(c: &Connection, record: &R) -> anyhow::Result<()> {
    let mut cols = record.fixed();
    cols.extend(record.settable()?);
    let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
    let marks = vec!["?"; cols.len()].join(", ");
    let sql = format!("INSERT INTO {} ({}) VALUES ({marks})", R::TABLE, names.join(", "));
    c.prepare_cached(&sql)?.execute(params_from_iter(cols.into_iter().map(|(_, v)| v)))?;
    Ok(())
}

/// Applies `edit` to a record and stores only its settable columns, so identity never changes; answers the
/// row as stored.
fn update_record<K: Record>(c: &Connection, account: &str, sid: &str, edit: Edit<K>) -> anyhow::Result<Option<K>> {
    let Some(mut record) = get_record::<K>(c, account, sid)? else { return Ok(None) };
    edit(&mut record);
    let cols = record.settable()?;
    let sets: Vec<String> = cols.iter().map(|(n, _)| format!("{n} = ?")).collect();
    let sql = format!("UPDATE {} SET {} WHERE sid = ? AND account_sid = ?", K::TABLE, sets.join(", "));
    let args = cols.into_iter().map(|(_, v)| v).chain([text(sid), text(account)]);
    c.prepare_cached(&sql)?.execute(params_from_iter(args))?;
    get_record::<K>(c, account, sid)
}

/// Deletes a number or short code and takes it out of its pool.
fn delete_number<K: NumberKind>(c: &Connection, account: &str, sid: &str) -> anyhow::Result<bool> {
    let sql = format!("DELETE FROM {} WHERE sid = ?1 AND account_sid = ?2", K::TABLE);
    let gone = c.prepare_cached(&sql)?.execute(params![sid, account])?;
    if gone == 1 {
        c.execute("DELETE FROM pool_senders WHERE sid = ?1", [sid])?;
    }
    Ok(gone == 1)
}

/// The list query of numbers or short codes.
fn number_list_sql<K: NumberKind>(account: &str, filter: &SenderFilter, cursor: &Cursor, limit: usize) -> ListSql {
    list_sql::<K>(account, Some((K::ADDRESS, filter)), cursor, limit)
}

/// The list query of a kind of record, narrowed by a number filter on the address column.
fn list_sql<R: Record>(account: &str, filter: Option<(&str, &SenderFilter)>, cursor: &Cursor, limit: usize) -> ListSql {
    let mut sql = format!("SELECT * FROM {} WHERE account_sid = ?", R::TABLE);
    let mut args = vec![text(account)];
    if let Some((column, filter)) = filter {
        filter_clause(&mut sql, &mut args, column, filter);
    }
    let reversed = page_clause(&mut sql, &mut args, R::PREFIX, cursor, limit);
    (sql, args, reversed)
}

#[async_trait]
impl<K: NumberKind> NumberStore<K> for SqliteStore {
    async fn insert_number(&self, record: K) -> StoreResult<Result<(), Refused>> {
        self.write(move |c| insert_number(c, &record)).await
    }

    async fn number(&self, account_sid: &str, sid: &str) -> StoreResult<Option<K>> {
        let Some(sid) = normalize_sid(sid, K::PREFIX) else { return Ok(None) };
        let account = account_sid.to_string();
        self.read(move |c| get_record(c, &account, &sid)).await
    }

    async fn list_numbers(
        &self,
        account_sid: &str,
        filter: &SenderFilter,
        cursor: &Cursor,
        limit: usize,
    ) -> StoreResult<Vec<K>> {
        let (sql, args, reversed) = number_list_sql::<K>(account_sid, filter, cursor, limit);
        self.read(move |c| run_list(c, &sql, args, reversed, K::from_row)).await
    }

    async fn update_number(&self, account_sid: &str, sid: &str, edit: Edit<K>) -> StoreResult<Option<K>> {
        let Some(sid) = normalize_sid(sid, K::PREFIX) else { return Ok(None) };
        let account = account_sid.to_string();
        self.write(move |c| update_record(c, &account, &sid, edit)).await
    }

    async fn delete_number(&self, account_sid: &str, sid: &str) -> StoreResult<bool> {
        let Some(sid) = normalize_sid(sid, K::PREFIX) else { return Ok(false) };
        let account = account_sid.to_string();
        self.write(move |c| delete_number::<K>(c, &account, &sid)).await
    }
}

fn insert_pool_row(c: &Connection, account: &str, p: &PoolSender) -> anyhow::Result<()> {
    c.prepare_cached(
        "INSERT INTO pool_senders (sid, account_sid, service_sid, kind, address, country_code, date_created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        p.sid,
        account,
        p.service_sid,
        p.kind.as_str(),
        p.address,
        p.country_code,
        p.date_created
    ])?;
    Ok(())
}

/// The checks and the insert of [`SenderStore::add_to_pool`], inside one write job.
fn add_pool_member(
    c: &Connection,
    account: &str,
    service_sid: &str,
    sender: NewPoolSender,
    now_ms: i64,
) -> anyhow::Result<Result<PoolSender, Refused>> {
    let Some(service_sid) = normalize_sid(service_sid, "MG") else { return Ok(Err(Refused::NoService)) };
    let service_exists = c
        .prepare_cached("SELECT 1 FROM services WHERE sid = ?1 AND account_sid = ?2")?
        .exists(params![service_sid, account])?;
    if !service_exists {
        return Ok(Err(Refused::NoService));
    }
    let (sid, kind, address, country_code) = match sender {
        NewPoolSender::PhoneNumber(sid) => {
            let Some(sid) = normalize_sid(&sid, "PN") else { return Ok(Err(Refused::NoSender)) };
            let Some(n) = get_record::<IncomingNumber>(c, account, &sid)? else { return Ok(Err(Refused::NoSender)) };
            let country = pool_country(&n.number.phone_number);
            (sid, PoolKind::PhoneNumber, n.number.phone_number, country)
        }
        NewPoolSender::ShortCode(sid) => {
            let Some(sid) = normalize_sid(&sid, "SC") else { return Ok(Err(Refused::NoSender)) };
            let Some(sc) = get_record::<ShortCode>(c, account, &sid)? else { return Ok(Err(Refused::NoSender)) };
            (sid, PoolKind::ShortCode, sc.short_code, Some(sc.country_code))
        }
        NewPoolSender::AlphaSender { sid, alpha_sender } => (sid, PoolKind::AlphaSender, alpha_sender, None),
    };
    let holder: Option<String> = c
        .prepare_cached("SELECT service_sid FROM pool_senders WHERE account_sid = ?1 AND (address = ?2 OR sid = ?3)")?
        .query_row(params![account, address, sid], |r| r.get(0))
        .optional()?;
    match holder {
        Some(s) if s == service_sid => return Ok(Err(Refused::AlreadyInService)),
        Some(s) => return Ok(Err(Refused::InOtherService(s))),
        None => {}
    }
    if kind == PoolKind::AlphaSender {
        let taken: Option<String> = c
            .prepare_cached("SELECT sid FROM pool_senders WHERE service_sid = ?1 AND kind = ?2")?
            .query_row(params![service_sid, kind.as_str()], |r| r.get(0))
            .optional()?;
        if let Some(existing) = taken {
            return Ok(Err(Refused::AlphaSenderTaken(existing)));
        }
    }
    let member = PoolSender { sid, service_sid, kind, address, country_code, date_created: now_ms };
    insert_pool_row(c, account, &member)?;
    Ok(Ok(member))
}

#[async_trait]
impl SenderStore for SqliteStore {
    // --- the lookups of the message flow -----------------------------------------------------

    async fn service(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Service>> {
        let Some(sid) = normalize_sid(sid, "MG") else { return Ok(None) };
        let account = account_sid.to_string();
        self.read(move |c| Ok(get_service(c, &account, &sid)?.map(|r| r.service))).await
    }

    async fn pool(&self, service_sid: &str) -> StoreResult<Vec<PoolSender>> {
        let Some(service) = normalize_sid(service_sid, "MG") else { return Ok(Vec::new()) };
        self.read(move |c| {
            let mut st = c.prepare_cached(POOL_SQL)?;
            let rows = st.query_map([&service], pool_from_row)?;
            let mut pool: Vec<PoolSender> = rows.collect::<Result<_, _>>()?;
            // SIDs are time-ordered after their two-letter prefix, which differs by kind: break
            // same-millisecond ties on the hex part so the pool lists in the order it was built.
            pool.sort_by(|a, b| (a.date_created, a.sid.get(2..)).cmp(&(b.date_created, b.sid.get(2..))));
            Ok(pool)
        })
        .await
    }

    async fn phone_number_by_address(&self, account_sid: &str, address: &str) -> StoreResult<Option<PhoneNumber>> {
        let (account, address) = (account_sid.to_string(), bare(address));
        self.read(move |c| Ok(number_by_address::<IncomingNumber>(c, &account, &address)?.map(|n| n.number))).await
    }

    async fn service_of_sender(&self, account_sid: &str, address: &str) -> StoreResult<Option<Service>> {
        let (account, address) = (account_sid.to_string(), bare(address));
        self.read(move |c| {
            let holder: Option<String> = c
                .prepare_cached("SELECT service_sid FROM pool_senders WHERE account_sid = ?1 AND address = ?2")?
                .query_row(params![account, address], |r| r.get(0))
                .optional()?;
            match holder {
                Some(sid) => Ok(get_service(c, &account, &sid)?.map(|r| r.service)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn owns_sender(&self, account_sid: &str, address: &str) -> StoreResult<bool> {
        let (account, address) = (account_sid.to_string(), bare(address));
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM phone_numbers WHERE account_sid = ?1 AND phone_number = ?2)
                     OR EXISTS (SELECT 1 FROM short_codes WHERE account_sid = ?1 AND short_code = ?2)
                     OR EXISTS (SELECT 1 FROM pool_senders
                                WHERE account_sid = ?1 AND address = ?2 AND kind = 'alpha_sender')",
            )?
            .query_row(params![account, address], |r| r.get(0))?)
        })
        .await
    }

    // --- Messaging Services ------------------------------------------------------------------

    async fn insert_service(&self, r: ServiceRecord) -> StoreResult<()> {
        self.write(move |c| insert_record(c, &r)).await
    }

    async fn service_record(&self, account_sid: &str, sid: &str) -> StoreResult<Option<ServiceRecord>> {
        let Some(sid) = normalize_sid(sid, "MG") else { return Ok(None) };
        let account = account_sid.to_string();
        self.read(move |c| get_service(c, &account, &sid)).await
    }

    async fn list_services(&self, account_sid: &str, cursor: &Cursor, limit: usize) -> StoreResult<Vec<ServiceRecord>> {
        let (sql, args, reversed) = list_sql::<ServiceRecord>(account_sid, None, cursor, limit);
        self.read(move |c| run_list(c, &sql, args, reversed, ServiceRecord::from_row)).await
    }

    async fn update_service(
        &self,
        account_sid: &str,
        sid: &str,
        edit: Edit<ServiceRecord>,
    ) -> StoreResult<Option<ServiceRecord>> {
        let Some(sid) = normalize_sid(sid, "MG") else { return Ok(None) };
        let account = account_sid.to_string();
        self.write(move |c| update_record(c, &account, &sid, edit)).await
    }

    async fn delete_service(&self, account_sid: &str, sid: &str) -> StoreResult<bool> {
        let Some(sid) = normalize_sid(sid, "MG") else { return Ok(false) };
        let account = account_sid.to_string();
        self.write(move |c| {
            let gone = c.execute("DELETE FROM services WHERE sid = ?1 AND account_sid = ?2", params![sid, account])?;
            if gone == 1 {
                c.execute("DELETE FROM pool_senders WHERE service_sid = ?1", [&sid])?;
            }
            Ok(gone == 1)
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
        self.write(move |c| add_pool_member(c, &account, &service, sender, now_ms)).await
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
            let sql = format!(
                "SELECT {POOL_COLUMNS} FROM pool_senders
                 WHERE sid = ?1 AND service_sid = ?2 AND account_sid = ?3 AND kind = ?4"
            );
            Ok(c.prepare_cached(&sql)?
                .query_row(params![sid, service, account, kind.as_str()], pool_from_row)
                .optional()?)
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
        let (sql, args, reversed) = pool_list_sql(&service, kind, cursor, limit);
        self.read(move |c| {
            if get_service(c, &account, &service)?.is_none() {
                return Ok(None);
            }
            run_list(c, &sql, args, reversed, pool_from_row).map(Some)
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
            let gone = c.execute(
                "DELETE FROM pool_senders WHERE sid = ?1 AND service_sid = ?2 AND account_sid = ?3 AND kind = ?4",
                params![sid, service, account, kind.as_str()],
            )?;
            Ok(gone == 1)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(c: &Connection, sql: &str, args: Vec<Value>) -> String {
        let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = st.query_map(params_from_iter(args), |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    /// Every sender list is served by an index in paging order: no table scan, no sort step.
    #[test]
    fn every_sender_list_uses_an_index_in_paging_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(SqliteStore::open_blocking(path.to_str().unwrap(), Default::default()).unwrap());
        let c = Connection::open(&path).unwrap();
        let filters = [
            SenderFilter::default(),
            SenderFilter { address_contains: Some("1415".into()), friendly_name: Some("x".into()) },
        ];
        let mut queries: Vec<ListSql> = Vec::new();
        for cursor in [Cursor::Start, Cursor::After("a".into()), Cursor::Before("a".into())] {
            for f in &filters {
                queries.push(number_list_sql::<IncomingNumber>("AC1", f, &cursor, 51));
                queries.push(number_list_sql::<ShortCode>("AC1", f, &cursor, 51));
            }
            queries.push(list_sql::<ServiceRecord>("AC1", None, &cursor, 51));
            queries.push(pool_list_sql("MG1", PoolKind::AlphaSender, &cursor, 51));
        }
        queries.push((POOL_SQL.to_string(), vec![Value::Text("MG1".into())], false));
        for (sql, args, _) in queries {
            let p = plan(&c, &sql, args);
            assert!(p.contains("USING INDEX") || p.contains("USING COVERING INDEX"), "{sql}: {p}");
            assert!(!p.contains("TEMP B-TREE"), "{sql} sorts: {p}");
        }
    }
}
