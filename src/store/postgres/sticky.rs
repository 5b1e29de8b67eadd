//! SQL of sticky senders (`sticky_senders`).

use super::engine::{execute, query_opt, Conn, PgStore};
use crate::store::sticky::StickySenderStore;
use crate::store::StoreResult;
use async_trait::async_trait;

async fn recorded(c: &Conn, service: &str, to: &str, for_update: bool) -> anyhow::Result<Option<String>> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT sender FROM sticky_senders WHERE service_sid = $1 AND to_addr = $2{lock}");
    Ok(query_opt(c, &sql, &[&service, &to]).await?.map(|r| r.try_get(0)).transpose()?)
}

#[async_trait]
impl StickySenderStore for PgStore {
    async fn sticky_sender(&self, service_sid: &str, to: &str) -> StoreResult<Option<String>> {
        let (service, to) = (service_sid.to_string(), to.to_string());
        self.read(move |c| Box::pin(async move { recorded(c, &service, &to, false).await })).await
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
        self.write(move |c| {
            Box::pin(async move {
                match recorded(c, &service, &to, true).await? {
                    Some(current) if Some(&current) != stale.as_ref() => Ok(current),
                    _ => {
                        execute(
                            c,
                            "INSERT INTO sticky_senders (service_sid, to_addr, sender) VALUES ($1, $2, $3)
                             ON CONFLICT (service_sid, to_addr) DO UPDATE SET sender = excluded.sender",
                            &[&service, &to, &sender],
                        )
                        .await?;
                        Ok(sender)
                    }
                }
            })
        })
        .await
    }
}
