//! SQL of accounts and API keys.

use super::SqliteStore;
use crate::store::accounts::{Account, AccountEdit, AccountRecord, AccountStatus, AccountStore};
use crate::store::keys::{ApiKey, KeyStore, KeyType};
use crate::store::StoreResult;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

fn from_row(r: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account { sid: r.get(0)?, auth_token: r.get(1)? })
}

const RECORD_COLUMNS: &str = "sid, owner_account_sid, friendly_name, status, auth_token, secondary_token,
    secondary_date_created, date_created, date_updated";

fn record_from_row(r: &Row<'_>) -> rusqlite::Result<AccountRecord> {
    let sid: String = r.get(0)?;
    let date_created: i64 = r.get(7)?;
    let status: String = r.get(3)?;
    Ok(AccountRecord {
        owner_account_sid: r.get::<_, Option<String>>(1)?.unwrap_or_else(|| sid.clone()),
        friendly_name: r.get::<_, Option<String>>(2)?.unwrap_or_else(|| sid.clone()),
        // An unknown status (written by a newer release) is treated as the safest one.
        status: AccountStatus::parse(&status).unwrap_or(AccountStatus::Suspended),
        auth_token: r.get(4)?,
        secondary_token: r.get(5)?,
        secondary_date_created: r.get(6)?,
        date_created,
        date_updated: r.get::<_, Option<i64>>(8)?.unwrap_or(date_created),
        sid,
    })
}

fn record(c: &Connection, sid: &str) -> rusqlite::Result<Option<AccountRecord>> {
    c.prepare_cached(&format!("SELECT {RECORD_COLUMNS} FROM accounts WHERE sid = ?1"))?
        .query_row([sid], record_from_row)
        .optional()
}

const KEY_COLUMNS: &str =
    "sid, account_sid, friendly_name, key_type, policy, secret_salt, secret_hash, date_created, date_updated";

fn key_from_row(r: &Row<'_>) -> rusqlite::Result<ApiKey> {
    let key_type: String = r.get(3)?;
    Ok(ApiKey {
        sid: r.get(0)?,
        account_sid: r.get(1)?,
        friendly_name: r.get(2)?,
        // An unknown type (written by a newer release) gets the least power.
        key_type: KeyType::parse(&key_type).unwrap_or(KeyType::Restricted),
        policy: r.get(4)?,
        secret_salt: r.get(5)?,
        secret_hash: r.get(6)?,
        date_created: r.get(7)?,
        date_updated: r.get(8)?,
    })
}

fn key(c: &Connection, sid: &str) -> rusqlite::Result<Option<ApiKey>> {
    c.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE sid = ?1"))?
        .query_row([sid], key_from_row)
        .optional()
}

/// Advances `credential_changes.seq` (see [`AccountStore::credentials_seq`]).
fn bump(c: &Connection) -> rusqlite::Result<()> {
    c.execute("UPDATE credential_changes SET seq = seq + 1 WHERE id = 1", [])?;
    Ok(())
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn upsert_account(&self, account: Account) -> StoreResult<()> {
        self.write(move |c| {
            let now = crate::clock::now_ms();
            c.execute(
                "INSERT INTO accounts (sid, auth_token, date_created, owner_account_sid, friendly_name, date_updated)
                 VALUES (?1, ?2, ?3, ?1, ?1, ?3)
                 ON CONFLICT (sid) DO UPDATE SET auth_token = excluded.auth_token,
                    date_updated = CASE WHEN auth_token = excluded.auth_token THEN date_updated ELSE excluded.date_updated END",
                params![account.sid, account.auth_token, now],
            )?;
            bump(c)?;
            Ok(())
        })
        .await
    }

    async fn insert_account_if_absent(&self, account: Account) -> StoreResult<Account> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO accounts (sid, auth_token, date_created, owner_account_sid, friendly_name, date_updated)
                 VALUES (?1, ?2, ?3, ?1, ?1, ?3) ON CONFLICT (sid) DO NOTHING",
                params![account.sid, account.auth_token, crate::clock::now_ms()],
            )?;
            let token: String =
                c.query_row("SELECT auth_token FROM accounts WHERE sid = ?1", [&account.sid], |r| r.get(0))?;
            Ok(Account { sid: account.sid, auth_token: token })
        })
        .await
    }

    async fn accounts(&self) -> StoreResult<Vec<Account>> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT sid, auth_token FROM accounts ORDER BY date_created, sid")?;
            let rows = st.query_map([], from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn account(&self, sid: &str) -> StoreResult<Option<Account>> {
        let sid = sid.to_string();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT sid, auth_token FROM accounts WHERE sid = ?1")?
                .query_row([&sid], from_row)
                .optional()?)
        })
        .await
    }

    async fn account_record(&self, sid: &str) -> StoreResult<Option<AccountRecord>> {
        let sid = sid.to_string();
        self.read(move |c| Ok(record(c, &sid)?)).await
    }

    async fn insert_subaccount(&self, r: AccountRecord, limit: usize) -> StoreResult<bool> {
        self.write(move |c| {
            let count: i64 = c.query_row(
                "SELECT COUNT(*) FROM accounts WHERE owner_account_sid = ?1 AND sid <> ?1 AND status <> 'closed'",
                [&r.owner_account_sid],
                |row| row.get(0),
            )?;
            if usize::try_from(count).unwrap_or(usize::MAX) >= limit {
                return Ok(false);
            }
            c.execute(
                "INSERT INTO accounts (sid, owner_account_sid, friendly_name, status, auth_token, secondary_token,
                    secondary_date_created, date_created, date_updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    r.sid,
                    r.owner_account_sid,
                    r.friendly_name,
                    r.status.as_str(),
                    r.auth_token,
                    r.secondary_token,
                    r.secondary_date_created,
                    r.date_created,
                    r.date_updated
                ],
            )?;
            Ok(true)
        })
        .await
    }

    async fn credentials_seq(&self) -> StoreResult<i64> {
        self.read(|c| Ok(c.query_row("SELECT seq FROM credential_changes WHERE id = 1", [], |r| r.get(0))?)).await
    }

    async fn account_family(&self, owner_sid: &str) -> StoreResult<Vec<AccountRecord>> {
        let owner = owner_sid.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM accounts WHERE sid = ?1 OR owner_account_sid = ?1 ORDER BY sid"
            ))?;
            let rows = st.query_map([&owner], record_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn update_account(&self, sid: &str, edit: AccountEdit, now: i64) -> StoreResult<Option<AccountRecord>> {
        let sid = sid.to_string();
        self.write(move |c| {
            let Some(mut r) = record(c, &sid)? else { return Ok(None) };
            if let Some(name) = edit.friendly_name {
                r.friendly_name = name;
            }
            if let Some(status) = edit.status {
                r.status = status;
            }
            if let Some(secondary) = edit.secondary_token {
                r.secondary_date_created = secondary.as_ref().map(|_| now);
                r.secondary_token = secondary;
            }
            if edit.promote {
                if let Some(t) = r.secondary_token.take() {
                    r.auth_token = t;
                    r.secondary_date_created = None;
                }
            }
            r.date_updated = now;
            c.execute(
                "UPDATE accounts SET friendly_name = ?2, status = ?3, auth_token = ?4, secondary_token = ?5,
                    secondary_date_created = ?6, date_updated = ?7 WHERE sid = ?1",
                params![
                    r.sid,
                    r.friendly_name,
                    r.status.as_str(),
                    r.auth_token,
                    r.secondary_token,
                    r.secondary_date_created,
                    r.date_updated
                ],
            )?;
            bump(c)?;
            Ok(Some(r))
        })
        .await
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, k: ApiKey) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                &format!("INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
                params![
                    k.sid,
                    k.account_sid,
                    k.friendly_name,
                    k.key_type.as_str(),
                    k.policy,
                    k.secret_salt,
                    k.secret_hash,
                    k.date_created,
                    k.date_updated
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn key(&self, sid: &str) -> StoreResult<Option<ApiKey>> {
        let sid = sid.to_string();
        self.read(move |c| Ok(key(c, &sid)?)).await
    }

    async fn keys_of(&self, account_sid: &str) -> StoreResult<Vec<ApiKey>> {
        let account = account_sid.to_string();
        self.read(move |c| {
            let mut st =
                c.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE account_sid = ?1 ORDER BY sid"))?;
            let rows = st.query_map([&account], key_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn update_key(
        &self,
        account_sid: &str,
        sid: &str,
        friendly_name: Option<String>,
        policy: Option<String>,
        now: i64,
    ) -> StoreResult<Option<ApiKey>> {
        let (account, sid) = (account_sid.to_string(), sid.to_string());
        self.write(move |c| {
            let Some(mut k) = key(c, &sid)?.filter(|k| k.account_sid == account) else { return Ok(None) };
            if let Some(name) = friendly_name {
                k.friendly_name = name;
            }
            if policy.is_some() {
                k.policy = policy;
            }
            k.date_updated = now;
            c.execute(
                "UPDATE api_keys SET friendly_name = ?2, policy = ?3, date_updated = ?4 WHERE sid = ?1",
                params![k.sid, k.friendly_name, k.policy, k.date_updated],
            )?;
            bump(c)?;
            Ok(Some(k))
        })
        .await
    }

    async fn delete_key(&self, account_sid: &str, sid: &str) -> StoreResult<bool> {
        let (account, sid) = (account_sid.to_string(), sid.to_string());
        self.write(move |c| {
            let deleted =
                c.execute("DELETE FROM api_keys WHERE sid = ?1 AND account_sid = ?2", params![sid, account])? > 0;
            if deleted {
                bump(c)?;
            }
            Ok(deleted)
        })
        .await
    }
}
