//! SQL of accounts and API keys.

use super::engine::{execute, query, query_one, query_opt, Conn, PgStore};
use crate::store::accounts::{Account, AccountEdit, AccountRecord, AccountStatus, AccountStore};
use crate::store::keys::{ApiKey, KeyStore, KeyType};
use crate::store::StoreResult;
use async_trait::async_trait;
use tokio_postgres::Row;

fn from_row(r: &Row) -> anyhow::Result<Account> {
    Ok(Account { sid: r.try_get(0)?, auth_token: r.try_get(1)? })
}

const RECORD_COLUMNS: &str = "sid, owner_account_sid, friendly_name, status, auth_token, secondary_token,
    secondary_date_created, date_created, date_updated";

fn record_from_row(r: &Row) -> anyhow::Result<AccountRecord> {
    let status: String = r.try_get(3)?;
    Ok(AccountRecord {
        sid: r.try_get(0)?,
        owner_account_sid: r.try_get(1)?,
        friendly_name: r.try_get(2)?,
        // An unknown status (written by a newer release) is treated as the safest one.
        status: AccountStatus::parse(&status).unwrap_or(AccountStatus::Suspended),
        auth_token: r.try_get(4)?,
        secondary_token: r.try_get(5)?,
        secondary_date_created: r.try_get(6)?,
        date_created: r.try_get(7)?,
        date_updated: r.try_get(8)?,
    })
}

async fn record(c: &Conn, sid: &str, for_update: bool) -> anyhow::Result<Option<AccountRecord>> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {RECORD_COLUMNS} FROM accounts WHERE sid = $1{lock}");
    query_opt(c, &sql, &[&sid]).await?.as_ref().map(record_from_row).transpose()
}

const KEY_COLUMNS: &str =
    "sid, account_sid, friendly_name, key_type, policy, secret_salt, secret_hash, date_created, date_updated";

fn key_from_row(r: &Row) -> anyhow::Result<ApiKey> {
    let key_type: String = r.try_get(3)?;
    Ok(ApiKey {
        sid: r.try_get(0)?,
        account_sid: r.try_get(1)?,
        friendly_name: r.try_get(2)?,
        // An unknown type (written by a newer release) gets the least power.
        key_type: KeyType::parse(&key_type).unwrap_or(KeyType::Restricted),
        policy: r.try_get(4)?,
        secret_salt: r.try_get(5)?,
        secret_hash: r.try_get(6)?,
        date_created: r.try_get(7)?,
        date_updated: r.try_get(8)?,
    })
}

async fn key(c: &Conn, sid: &str, for_update: bool) -> anyhow::Result<Option<ApiKey>> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE sid = $1{lock}");
    query_opt(c, &sql, &[&sid]).await?.as_ref().map(key_from_row).transpose()
}

/// Advances `credential_changes.seq` (see [`AccountStore::credentials_seq`]).
async fn bump(c: &Conn) -> anyhow::Result<()> {
    execute(c, "UPDATE credential_changes SET seq = seq + 1 WHERE id = 1", &[]).await?;
    Ok(())
}

#[async_trait]
impl AccountStore for PgStore {
    async fn upsert_account(&self, account: Account) -> StoreResult<()> {
        self.write(move |c| {
            Box::pin(async move {
                let now = crate::clock::now_ms();
                execute(
                    c,
                    "INSERT INTO accounts (sid, auth_token, date_created, owner_account_sid, friendly_name, date_updated)
                     VALUES ($1, $2, $3, $1, $1, $3)
                     ON CONFLICT (sid) DO UPDATE SET auth_token = excluded.auth_token,
                        date_updated = CASE WHEN accounts.auth_token = excluded.auth_token
                                            THEN accounts.date_updated ELSE excluded.date_updated END",
                    &[&account.sid, &account.auth_token, &now],
                )
                .await?;
                bump(c).await
            })
        })
        .await
    }

    async fn insert_account_if_absent(&self, account: Account) -> StoreResult<Account> {
        self.write(move |c| {
            Box::pin(async move {
                execute(
                    c,
                    "INSERT INTO accounts (sid, auth_token, date_created, owner_account_sid, friendly_name, date_updated)
                     VALUES ($1, $2, $3, $1, $1, $3) ON CONFLICT (sid) DO NOTHING",
                    &[&account.sid, &account.auth_token, &crate::clock::now_ms()],
                )
                .await?;
                let row = query_one(c, "SELECT auth_token FROM accounts WHERE sid = $1", &[&account.sid]).await?;
                Ok(Account { sid: account.sid, auth_token: row.try_get(0)? })
            })
        })
        .await
    }

    async fn accounts(&self) -> StoreResult<Vec<Account>> {
        self.read(|c| {
            Box::pin(async move {
                query(c, "SELECT sid, auth_token FROM accounts ORDER BY date_created, sid", &[])
                    .await?
                    .iter()
                    .map(from_row)
                    .collect()
            })
        })
        .await
    }

    async fn account(&self, sid: &str) -> StoreResult<Option<Account>> {
        let sid = sid.to_string();
        self.read(move |c| {
            Box::pin(async move {
                query_opt(c, "SELECT sid, auth_token FROM accounts WHERE sid = $1", &[&sid])
                    .await?
                    .as_ref()
                    .map(from_row)
                    .transpose()
            })
        })
        .await
    }

    async fn account_record(&self, sid: &str) -> StoreResult<Option<AccountRecord>> {
        let sid = sid.to_string();
        self.read(move |c| Box::pin(async move { record(c, &sid, false).await })).await
    }

    async fn insert_subaccount(&self, r: AccountRecord, limit: usize) -> StoreResult<bool> {
        self.write(move |c| {
            Box::pin(async move {
                // The owner's row, locked: concurrent creates under one owner count one at a time.
                execute(c, "SELECT 1 FROM accounts WHERE sid = $1 FOR UPDATE", &[&r.owner_account_sid]).await?;
                let count: i64 = query_one(
                    c,
                    "SELECT COUNT(*) FROM accounts WHERE owner_account_sid = $1 AND sid <> $1 AND status <> 'closed'",
                    &[&r.owner_account_sid],
                )
                .await?
                .try_get(0)?;
                if usize::try_from(count).unwrap_or(usize::MAX) >= limit {
                    return Ok(false);
                }
                execute(
                    c,
                    "INSERT INTO accounts (sid, owner_account_sid, friendly_name, status, auth_token, secondary_token,
                        secondary_date_created, date_created, date_updated)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    &[
                        &r.sid,
                        &r.owner_account_sid,
                        &r.friendly_name,
                        &r.status.as_str(),
                        &r.auth_token,
                        &r.secondary_token,
                        &r.secondary_date_created,
                        &r.date_created,
                        &r.date_updated,
                    ],
                )
                .await?;
                Ok(true)
            })
        })
        .await
    }

    async fn credentials_seq(&self) -> StoreResult<i64> {
        self.read(|c| {
            Box::pin(async move {
                Ok(query_one(c, "SELECT seq FROM credential_changes WHERE id = 1", &[]).await?.try_get(0)?)
            })
        })
        .await
    }

    async fn account_family(&self, owner_sid: &str) -> StoreResult<Vec<AccountRecord>> {
        let owner = owner_sid.to_string();
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {RECORD_COLUMNS} FROM accounts WHERE sid = $1 OR owner_account_sid = $1 ORDER BY sid"
                );
                query(c, &sql, &[&owner]).await?.iter().map(record_from_row).collect()
            })
        })
        .await
    }

    async fn update_account(&self, sid: &str, edit: AccountEdit, now: i64) -> StoreResult<Option<AccountRecord>> {
        let sid = sid.to_string();
        self.write(move |c| {
            Box::pin(async move {
                let Some(mut r) = record(c, &sid, true).await? else { return Ok(None) };
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
                execute(
                    c,
                    "UPDATE accounts SET friendly_name = $2, status = $3, auth_token = $4, secondary_token = $5,
                        secondary_date_created = $6, date_updated = $7 WHERE sid = $1",
                    &[
                        &r.sid,
                        &r.friendly_name,
                        &r.status.as_str(),
                        &r.auth_token,
                        &r.secondary_token,
                        &r.secondary_date_created,
                        &r.date_updated,
                    ],
                )
                .await?;
                bump(c).await?;
                Ok(Some(r))
            })
        })
        .await
    }
}

#[async_trait]
impl KeyStore for PgStore {
    async fn insert_key(&self, k: ApiKey) -> StoreResult<()> {
        self.write(move |c| {
            Box::pin(async move {
                let sql = format!("INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
                execute(
                    c,
                    &sql,
                    &[
                        &k.sid,
                        &k.account_sid,
                        &k.friendly_name,
                        &k.key_type.as_str(),
                        &k.policy,
                        &k.secret_salt,
                        &k.secret_hash,
                        &k.date_created,
                        &k.date_updated,
                    ],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn key(&self, sid: &str) -> StoreResult<Option<ApiKey>> {
        let sid = sid.to_string();
        self.read(move |c| Box::pin(async move { key(c, &sid, false).await })).await
    }

    async fn keys_of(&self, account_sid: &str) -> StoreResult<Vec<ApiKey>> {
        let account = account_sid.to_string();
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE account_sid = $1 ORDER BY sid");
                query(c, &sql, &[&account]).await?.iter().map(key_from_row).collect()
            })
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
            Box::pin(async move {
                let Some(mut k) = key(c, &sid, true).await?.filter(|k| k.account_sid == account) else {
                    return Ok(None);
                };
                if let Some(name) = friendly_name {
                    k.friendly_name = name;
                }
                if policy.is_some() {
                    k.policy = policy;
                }
                k.date_updated = now;
                execute(
                    c,
                    "UPDATE api_keys SET friendly_name = $2, policy = $3, date_updated = $4 WHERE sid = $1",
                    &[&k.sid, &k.friendly_name, &k.policy, &k.date_updated],
                )
                .await?;
                bump(c).await?;
                Ok(Some(k))
            })
        })
        .await
    }

    async fn delete_key(&self, account_sid: &str, sid: &str) -> StoreResult<bool> {
        let (account, sid) = (account_sid.to_string(), sid.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let deleted = execute(c, "DELETE FROM api_keys WHERE sid = $1 AND account_sid = $2", &[&sid, &account])
                    .await?
                    > 0;
                if deleted {
                    bump(c).await?;
                }
                Ok(deleted)
            })
        })
        .await
    }
}
