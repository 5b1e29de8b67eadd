//! `--retention-days`: deletes old messages in the background, in small batches, so that the
//! API never waits behind a large delete.

use super::Store;
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::message::Message;

/// Messages deleted per write job.
const BATCH: usize = 500;
/// Time between sweeps.
const EVERY: Duration = Duration::from_secs(60);

/// Sweeps forever: deletes messages created more than `days` days ago (a `sent` one only once
/// `receipt_window` has passed since it was sent).
/// With several nodes on one database, one of them at a time sweeps (the holder of the
/// `retention` singleton lease; a peer takes it over once it lapses, within two sweep periods).
pub async fn run(store: Arc<dyn Store>, days: u32, receipt_window: Duration) {
    loop {
        if !store.hold_singleton("retention", 2 * EVERY).await.unwrap_or(false) {
            tokio::time::sleep(EVERY).await;
            continue;
        }
        let now = crate::clock::now_ms();
        let cutoff = now - i64::from(days) * 86_400_000;
        let removed = sweep(store.as_ref(), cutoff, Message::receipt_cutoff(now, receipt_window)).await;
        if removed > 0 {
            tracing::info!(removed, days, "retention: deleted old messages");
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Deletes every message done with (final, or `sent` before `receipt_cutoff_ms`) and created
/// before `cutoff_ms`, a batch at a time; returns how many were deleted.
pub async fn sweep(store: &dyn Store, cutoff_ms: i64, receipt_cutoff_ms: i64) -> usize {
    let mut total = 0;
    loop {
        match store.purge_messages_before(cutoff_ms, receipt_cutoff_ms, BATCH).await {
            Ok(n) => {
                total += n;
                if n < BATCH {
                    return total;
                }
                // Let API writes into the writer queue between batches.
                tokio::task::yield_now().await;
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "retention sweep failed; will retry");
                return total;
            }
        }
    }
}
