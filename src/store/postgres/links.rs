//! SQL of shortened links (`short_links`).

use super::engine::{execute, query_opt, PgStore};
use crate::store::links::{LinkStore, ShortLink};
use crate::store::StoreResult;
use async_trait::async_trait;

#[async_trait]
impl LinkStore for PgStore {
    async fn insert_links(&self, links: Vec<ShortLink>) -> StoreResult<()> {
        self.write(move |c| {
            Box::pin(async move {
                for l in &links {
                    execute(
                        c,
                        "INSERT INTO short_links (code, account_sid, message_sid, link, shortened, date_created)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                        &[&l.code, &l.account_sid, &l.message_sid, &l.link, &l.shortened, &l.date_created],
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn click_link(&self, code: &str) -> StoreResult<Option<ShortLink>> {
        let code = code.to_string();
        self.write(move |c| {
            Box::pin(async move {
                // One statement: the count before this click comes back from the update itself.
                let row = query_opt(
                    c,
                    "UPDATE short_links SET clicks = clicks + 1 WHERE code = $1
                     RETURNING code, account_sid, message_sid, link, shortened, date_created, clicks - 1",
                    &[&code],
                )
                .await?;
                row.map(|r| {
                    Ok(ShortLink {
                        code: r.try_get(0)?,
                        account_sid: r.try_get(1)?,
                        message_sid: r.try_get(2)?,
                        link: r.try_get(3)?,
                        shortened: r.try_get(4)?,
                        date_created: r.try_get(5)?,
                        clicks: u64::try_from(r.try_get::<_, i64>(6)?).unwrap_or(0),
                    })
                })
                .transpose()
            })
        })
        .await
    }
}
