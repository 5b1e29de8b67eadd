//! SQL of accounts.

use super::SqliteStore;
use crate::store::accounts::{Account, AccountStore};
use crate::store::StoreResult;
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};

fn from_row(r: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account { sid: r.get(0)?, auth_token: r.get(1)? })
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn upsert_account(&self, account: Account) -> StoreResult<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO accounts (sid, auth_token, date_created) VALUES (?1, ?2, ?3)
                 ON CONFLICT (sid) DO UPDATE SET auth_token = excluded.auth_token",
                params![account.sid, account.auth_token, crate::clock::now_ms()],
            )?;
            Ok(())
        })
        .await
    }

    async fn insert_account_if_absent(&self, account: Account) -> StoreResult<Account> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO accounts (sid, auth_token, date_created) VALUES (?1, ?2, ?3) ON CONFLICT (sid) DO NOTHING",
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
}
