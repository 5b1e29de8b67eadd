//! SQL of opt-outs (`opt_outs`). Unlike SQLite's engine, no in-memory mirror: other nodes may
//! write the same table, so every check asks the database (one indexed lookup).

use super::engine::{execute, query_opt, PgStore};
use crate::store::opt_outs::OptOutStore;
use crate::store::StoreResult;
use async_trait::async_trait;

#[async_trait]
impl OptOutStore for PgStore {
    async fn set_opt_out(
        &self,
        account_sid: &str,
        scope: &str,
        number: &str,
        opted_out: bool,
        now_ms: i64,
    ) -> StoreResult<()> {
        let (account, scope, number) = (account_sid.to_string(), scope.to_string(), number.to_string());
        self.write(move |c| {
            Box::pin(async move {
                if opted_out {
                    execute(
                        c,
                        "INSERT INTO opt_outs (account_sid, scope, number, date_created) VALUES ($1, $2, $3, $4)
                         ON CONFLICT DO NOTHING",
                        &[&account, &scope, &number, &now_ms],
                    )
                    .await?;
                } else {
                    execute(
                        c,
                        "DELETE FROM opt_outs WHERE account_sid = $1 AND scope = $2 AND number = $3",
                        &[&account, &scope, &number],
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn opted_out(&self, account_sid: &str, scopes: Vec<String>, number: &str) -> StoreResult<bool> {
        let (account, number) = (account_sid.to_string(), number.to_string());
        self.read(move |c| {
            Box::pin(async move {
                Ok(query_opt(
                    c,
                    "SELECT 1 FROM opt_outs WHERE account_sid = $1 AND number = $2 AND scope = ANY($3) LIMIT 1",
                    &[&account, &number, &scopes],
                )
                .await?
                .is_some())
            })
        })
        .await
    }
}
