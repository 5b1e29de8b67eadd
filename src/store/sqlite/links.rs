//! SQL of shortened links (`short_links`).

use super::SqliteStore;
use crate::store::links::{LinkStore, ShortLink};
use crate::store::StoreResult;
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

#[async_trait]
impl LinkStore for SqliteStore {
    async fn insert_links(&self, links: Vec<ShortLink>) -> StoreResult<()> {
        self.write(move |c| {
            let mut st = c.prepare_cached(
                "INSERT INTO short_links (code, account_sid, message_sid, link, shortened, date_created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for l in &links {
                st.execute(params![l.code, l.account_sid, l.message_sid, l.link, l.shortened, l.date_created])?;
            }
            Ok(())
        })
        .await
    }

    async fn click_link(&self, code: &str) -> StoreResult<Option<ShortLink>> {
        let code = code.to_string();
        self.write(move |c| {
            let link = c
                .prepare_cached(
                    "SELECT code, account_sid, message_sid, link, shortened, date_created, clicks
                     FROM short_links WHERE code = ?1",
                )?
                .query_row([&code], |r| {
                    Ok(ShortLink {
                        code: r.get(0)?,
                        account_sid: r.get(1)?,
                        message_sid: r.get(2)?,
                        link: r.get(3)?,
                        shortened: r.get(4)?,
                        date_created: r.get(5)?,
                        clicks: u64::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
                    })
                })
                .optional()?;
            if link.is_some() {
                c.prepare_cached("UPDATE short_links SET clicks = clicks + 1 WHERE code = ?1")?.execute([&code])?;
            }
            Ok(link)
        })
        .await
    }
}
