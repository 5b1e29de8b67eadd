//! SQL of sticky senders (`sticky_senders`).

use super::SqliteStore;
use crate::store::sticky::StickySenderStore;
use crate::store::StoreResult;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

fn recorded(c: &Connection, service: &str, to: &str) -> anyhow::Result<Option<String>> {
    Ok(c.prepare_cached("SELECT sender FROM sticky_senders WHERE service_sid = ?1 AND to_addr = ?2")?
        .query_row(params![service, to], |r| r.get(0))
        .optional()?)
}

#[async_trait]
impl StickySenderStore for SqliteStore {
    async fn sticky_sender(&self, service_sid: &str, to: &str) -> StoreResult<Option<String>> {
        let (service, to) = (service_sid.to_string(), to.to_string());
        self.read(move |c| recorded(c, &service, &to)).await
    }

    async fn claim_sticky_sender(
        &self,
        service_sid: &str,
        to: &str,
        sender: &str,
        stale: Option<&str>,
    ) -> StoreResult<String> {
        let (service, to, sender) = (service_sid.to_string(), to.to_string(), sender.to_string());
        let stale = stale.map(str::to_string);
        self.write(move |c| match recorded(c, &service, &to)? {
            Some(current) if Some(&current) != stale.as_ref() => Ok(current),
            _ => {
                c.prepare_cached(
                    "INSERT INTO sticky_senders (service_sid, to_addr, sender) VALUES (?1, ?2, ?3)
                     ON CONFLICT (service_sid, to_addr) DO UPDATE SET sender = excluded.sender",
                )?
                .execute(params![service, to, sender])?;
                Ok(sender)
            }
        })
        .await
    }
}
