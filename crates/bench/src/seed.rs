//! Seeding a database with delivered messages through the store's bulk path, before the
//! server opens it: a million messages through the API would take longer than the scenario.

use std::time::{Duration, Instant};
use switchboard::store::{self, Account};
use switchboard_domain::message::Message;
use switchboard_domain::sid::KeyGenerator;
use switchboard_domain::status::Status;

/// Messages per `insert_messages` call (one transaction each).
const CHUNK: usize = 20_000;
/// Seeded messages are spread over this many days before now, oldest first.
pub const SPAN_DAYS: i64 = 30;
/// Sender of every seeded message.
pub const FROM: &str = "+14155550100";
/// Recipients, in rotation: message `i` goes to `TO[i % TO.len()]`, so a `To` filter keeps
/// one message in ten.
pub const TO: [&str; 10] = [
    "+14155552600",
    "+14155552601",
    "+14155552602",
    "+14155552603",
    "+14155552604",
    "+14155552605",
    "+14155552606",
    "+14155552607",
    "+14155552608",
    "+14155552609",
];
/// A seeded message is sent this long after it was created.
const SEND_LAG_MS: i64 = 1_500;

/// What seeding produced.
pub struct Seeded {
    /// Messages inserted.
    pub messages: u64,
    /// Wall time of the seeding.
    pub took: Duration,
    /// Creation time of the oldest message, ms.
    pub oldest_ms: i64,
    /// Creation time of the newest message, ms.
    pub newest_ms: i64,
}

/// Inserts `account` and `count` delivered messages into the database at `db`, reporting
/// progress through `progress(done)`.
pub async fn seed(db: &str, account: &Account, count: u64, progress: impl Fn(u64)) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let store = store::open(db).await?;
    store.upsert_account(account.clone()).await?;
    let keys = KeyGenerator::new();
    let newest_ms = chrono::Utc::now().timestamp_millis() - 60_000;
    let span_ms = SPAN_DAYS * 86_400_000;
    let oldest_ms = newest_ms - span_ms;
    let step = span_ms as f64 / count.max(1) as f64;

    let mut done = 0u64;
    let mut pending: Option<tokio::task::JoinHandle<anyhow::Result<()>>> = None;
    while done < count {
        let n = (count - done).min(CHUNK as u64);
        // Build the next chunk while the previous one is being written.
        let chunk: Vec<Message> = (done..done + n)
            .map(|i| {
                let created = oldest_ms + (i as f64 * step) as i64;
                message(&keys, &account.sid, i, created)
            })
            .collect();
        if let Some(task) = pending.take() {
            task.await??;
        }
        let store = store.clone();
        pending = Some(tokio::spawn(async move { store.insert_messages(chunk).await }));
        done += n;
        progress(done);
    }
    if let Some(task) = pending.take() {
        task.await??;
    }
    Ok(Seeded { messages: count, took: started.elapsed(), oldest_ms, newest_ms })
}

/// Seeded message number `i`, created at `created_ms`: delivered, priced, one segment.
fn message(keys: &KeyGenerator, account_sid: &str, i: u64, created_ms: i64) -> Message {
    let key = keys.next(created_ms);
    let sent = created_ms + SEND_LAG_MS;
    Message::builder(format!("SM{key}"), account_sid, TO[(i % TO.len() as u64) as usize], created_ms)
        .carrier_id(format!("sim-{key}"))
        .from(Some(FROM.to_string()))
        .body(format!("Benchmark message {i}: your verification code is {:06}", i % 1_000_000))
        .status(Status::Delivered)
        .num_segments(1)
        .price("-0.00790")
        .sent_at(sent)
        .updated_at(sent + SEND_LAG_MS)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn seeded_messages_list_newest_first_and_filter_by_to() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("seed.db");
        let db = db.to_str().unwrap();
        let account = Account { sid: format!("AC{}", "1".repeat(32)), auth_token: "token".into() };
        let seeded = seed(db, &account, 50, |_| {}).await.unwrap();
        assert_eq!(seeded.messages, 50);
        let store = store::open(db).await.unwrap();
        let filter = store::MessageFilter { to: Some(TO[3].to_string()), ..Default::default() };
        let page = store.list_messages(&account.sid, &filter, &store::Cursor::Start, 100).await.unwrap();
        assert_eq!(page.len(), 5);
        assert!(page.windows(2).all(|w| w[0].date_created > w[1].date_created));
        assert!(page.iter().all(|m| m.status == Status::Delivered && m.date_sent.is_some()));
    }
}
