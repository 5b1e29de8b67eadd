//! Schema migrations: the files of `migrations/sqlite/`, applied in order.

use anyhow::Context;
use rusqlite::Connection;

/// Migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/sqlite/0001_init.sql"),
    include_str!("../../../migrations/sqlite/0002_delivery.sql"),
    include_str!("../../../migrations/sqlite/0003_senders.sql"),
    include_str!("../../../migrations/sqlite/0004_routing.sql"),
    include_str!("../../../migrations/sqlite/0005_receiving.sql"),
    include_str!("../../../migrations/sqlite/0006_feedback.sql"),
    include_str!("../../../migrations/sqlite/0007_content.sql"),
    include_str!("../../../migrations/sqlite/0008_media.sql"),
    include_str!("../../../migrations/sqlite/0009_links.sql"),
    include_str!("../../../migrations/sqlite/0010_accounts_keys.sql"),
    include_str!("../../../migrations/sqlite/0011_smpp_segments.sql"),
    include_str!("../../../migrations/sqlite/0012_smpp_inbound_parts.sql"),
    include_str!("../../../migrations/sqlite/0013_message_history.sql"),
];

/// Brings the schema to the newest version; refuses a database newer than this binary.
pub(super) fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        anyhow::bail!(
            "the database schema is version {version}, newer than this binary knows ({}); upgrade Switchboard",
            MIGRATIONS.len()
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql).with_context(|| format!("migration {}", i + 1))?;
        tx.pragma_update(None, "user_version", i64::try_from(i + 1)?)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::messages::MessageEvent;
    use crate::store::prelude::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{Account, Cursor, MessageFilter, Transition};
    use switchboard_domain::message::{Message, SendOptions};
    use switchboard_domain::sid::KeyGenerator;
    use switchboard_domain::status::{Direction, Status};

    /// The migrations of the first release (commit 7d0d619, the oldest with a `migrations/`),
    /// copied as they were: an edit of a released migration file cannot slip past this test.
    const FIRST_RELEASE: &[&str] = &[include_str!("testdata/first_release/0001_init.sql")];

    #[test]
    fn released_migrations_are_never_edited() {
        for (i, released) in FIRST_RELEASE.iter().enumerate() {
            assert_eq!(MIGRATIONS[i], *released, "migration {} was released: add a new one instead", i + 1);
        }
    }

    const T0: i64 = 1_700_000_000_000;

    /// A message row as the first release wrote it (no `carrier_id` column yet), with its
    /// options in that release's JSON.
    fn insert_v1_message(c: &Connection, m: &Message, options: &str) {
        c.execute(
            "INSERT INTO messages (key, prefix, account_sid, messaging_service_sid, from_addr, to_addr, body, status,
                direction, num_segments, num_media, price, price_unit, error_code, error_message, date_created,
                date_updated, date_sent, options)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
            rusqlite::params![
                m.key(),
                &m.sid[..2],
                m.account_sid,
                m.messaging_service_sid,
                m.from,
                m.to,
                m.body,
                m.status.as_str(),
                m.direction.as_str(),
                m.num_segments,
                m.num_media,
                m.price,
                m.price_unit,
                m.error_code,
                m.error_message,
                m.date_created,
                m.date_updated,
                m.date_sent,
                options,
            ],
        )
        .unwrap();
    }

    fn insert_v1_event(c: &Connection, key: &str, at: i64, from: Option<&str>, to: &str, error_code: Option<u32>) {
        c.execute(
            "INSERT INTO message_events (key, at, from_status, to_status, error_code) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![key, at, from, to, error_code],
        )
        .unwrap();
    }

    fn event(at_ms: i64, from: Option<&str>, to: &str, error_code: Option<u32>) -> MessageEvent {
        MessageEvent { at_ms, from: from.map(str::to_string), to: to.into(), error_code, detail: None }
    }

    #[tokio::test]
    async fn a_database_of_the_first_release_upgrades_with_its_data_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        let keys = KeyGenerator::new();
        let delivered = Message {
            sid: format!("SM{}", keys.next(T0)),
            account_sid: "AC1".into(),
            messaging_service_sid: None,
            from: Some("+14155550100".into()),
            to: "+14155552671".into(),
            body: "Your code is 1234".into(),
            status: Status::Delivered,
            direction: Direction::OutboundApi,
            num_segments: 1,
            num_media: 0,
            price: Some("-0.00790".into()),
            price_unit: "USD".into(),
            error_code: None,
            error_message: None,
            date_created: T0,
            date_updated: T0 + 2000,
            date_sent: Some(T0 + 1000),
            carrier_id: None,
            options: SendOptions {
                status_callback: Some("https://example.com/status".into()),
                validity_period: Some(600),
                ..Default::default()
            },
        };
        let failed = Message {
            sid: format!("SM{}", keys.next(T0 + 10)),
            status: Status::Failed,
            error_code: Some(30008),
            error_message: Some("Unknown error".into()),
            price: None,
            date_sent: None,
            date_created: T0 + 10,
            date_updated: T0 + 11,
            options: SendOptions::default(),
            ..delivered.clone()
        };
        let queued = Message {
            sid: format!("SM{}", keys.next(T0 + 20)),
            account_sid: "AC2".into(),
            status: Status::Queued,
            price: None,
            date_sent: None,
            date_created: T0 + 20,
            date_updated: T0 + 20,
            ..delivered.clone()
        };
        let received = Message {
            sid: format!("SM{}", keys.next(T0 + 30)),
            from: Some("+14155552671".into()),
            to: "+14155550100".into(),
            body: "STOP".into(),
            status: Status::Received,
            direction: Direction::Inbound,
            price: None,
            date_sent: None,
            date_created: T0 + 30,
            date_updated: T0 + 30,
            options: SendOptions::default(),
            ..delivered.clone()
        };
        {
            let c = Connection::open(&path).unwrap();
            for sql in FIRST_RELEASE {
                c.execute_batch(sql).unwrap();
            }
            c.pragma_update(None, "user_version", i64::try_from(FIRST_RELEASE.len()).unwrap()).unwrap();
            c.execute("INSERT INTO accounts (sid, auth_token, date_created) VALUES ('AC1', 'token-1', ?1)", [T0])
                .unwrap();
            c.execute("INSERT INTO accounts (sid, auth_token, date_created) VALUES ('AC2', 'token-2', ?1)", [T0 + 1])
                .unwrap();
            let options = r#"{"status_callback":"https://example.com/status","validity_period":600}"#;
            insert_v1_message(&c, &delivered, options);
            insert_v1_message(&c, &failed, "{}");
            insert_v1_message(&c, &queued, options);
            insert_v1_message(&c, &received, "{}");
            insert_v1_event(&c, delivered.key(), T0, None, "queued", None);
            insert_v1_event(&c, delivered.key(), T0 + 500, Some("queued"), "sending", None);
            insert_v1_event(&c, delivered.key(), T0 + 1000, Some("sending"), "sent", None);
            insert_v1_event(&c, delivered.key(), T0 + 2000, Some("sent"), "delivered", None);
            insert_v1_event(&c, failed.key(), T0 + 10, None, "queued", None);
            insert_v1_event(&c, failed.key(), T0 + 11, Some("queued"), "failed", Some(30008));
            insert_v1_event(&c, queued.key(), T0 + 20, None, "queued", None);
            insert_v1_event(&c, received.key(), T0 + 30, None, "received", None);
        }

        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        let accounts = store.accounts().await.unwrap();
        assert_eq!(
            accounts,
            [
                Account { sid: "AC1".into(), auth_token: "token-1".into() },
                Account { sid: "AC2".into(), auth_token: "token-2".into() }
            ]
        );
        for m in [&delivered, &failed, &queued, &received] {
            assert_eq!(store.message(&m.account_sid, &m.sid).await.unwrap().as_ref(), Some(m));
        }
        let listed = store.list_messages("AC1", &MessageFilter::default(), &Cursor::Start, 10).await.unwrap();
        assert_eq!(listed, [received.clone(), failed.clone(), delivered.clone()]);
        assert_eq!(
            store.message_events("AC1", &delivered.sid).await.unwrap().unwrap(),
            [
                event(T0, None, "queued", None),
                event(T0 + 500, Some("queued"), "sending", None),
                event(T0 + 1000, Some("sending"), "sent", None),
                event(T0 + 2000, Some("sent"), "delivered", None)
            ]
        );
        assert_eq!(
            store.message_events("AC1", &failed.sid).await.unwrap().unwrap(),
            [event(T0 + 10, None, "queued", None), event(T0 + 11, Some("queued"), "failed", Some(30008))]
        );
        assert_eq!(store.unfinished_outbound().await.unwrap(), std::slice::from_ref(&queued));
        assert!(store.has_inbound_since("AC1", "+14155552671", T0).await.unwrap());

        // The upgraded rows take part in what later migrations added.
        let sent = Transition {
            carrier_id: Some("carrier-1".into()),
            callback: Some(crate::store::NewCallback {
                account_sid: "AC2".into(),
                url: "https://example.com/status".into(),
                method: "POST".into(),
                params: vec![("MessageStatus".into(), "sent".into())],
                idempotency_token: "tok".into(),
            }),
            ..Transition::new(queued.key(), Status::Queued, Status::Sent, T0 + 40)
        };
        assert!(store.apply_transitions(vec![sent]).await.unwrap()[0].applied);
        assert_eq!(
            store.message_events("AC2", &queued.sid).await.unwrap().unwrap(),
            [event(T0 + 20, None, "queued", None), event(T0 + 40, Some("queued"), "sent", None)],
            "new events follow the moved ones"
        );
        assert!(store.unfinished_outbound().await.unwrap().iter().all(|m| m.sid == queued.sid));
        assert_eq!(store.message_by_carrier_id("carrier-1").await.unwrap().map(|m| m.sid), Some(queued.sid.clone()));
        assert_eq!(store.pending_callbacks().await.unwrap().len(), 1);
        assert!(store.set_feedback("AC1", &delivered.sid, "confirmed", T0 + 50, false).await.unwrap().is_some());
        drop(store);

        let c = Connection::open(&path).unwrap();
        let version: i64 = c.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, i64::try_from(MIGRATIONS.len()).unwrap());
    }

    /// Migration 13 moves each message's event rows into its `history` (notes with their
    /// detail), lists unfinished messages in their own table, and drops the indexes the write
    /// path no longer keeps.
    #[tokio::test]
    async fn migration_13_moves_the_events_into_each_messages_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v12.db");
        let keys = KeyGenerator::new();
        let (sending, receiving, delivered) = (keys.next(T0), keys.next(T0 + 1), keys.next(T0 + 2));
        {
            let mut c = Connection::open(&path).unwrap();
            for (i, sql) in MIGRATIONS[..12].iter().enumerate() {
                let tx = c.transaction().unwrap();
                tx.execute_batch(sql).unwrap();
                tx.pragma_update(None, "user_version", i64::try_from(i + 1).unwrap()).unwrap();
                tx.commit().unwrap();
            }
            for (key, status, direction) in [
                (&sending, "sending", "outbound-api"),
                (&receiving, "receiving", "inbound"),
                (&delivered, "delivered", "outbound-api"),
            ] {
                c.execute(
                    "INSERT INTO messages (key, prefix, account_sid, to_addr, body, status, direction, num_segments,
                        num_media, price_unit, date_created, date_updated, options)
                     VALUES (?1, 'SM', 'AC1', '+14155552671', 'hi', ?2, ?3, 1, 0, 'USD', ?4, ?4, '{}')",
                    rusqlite::params![key, status, direction, T0],
                )
                .unwrap();
            }
            // key, at, from, to, error code, detail
            type Row<'a> = (&'a str, i64, Option<&'a str>, &'a str, Option<u32>, Option<&'a str>);
            let events: &[Row<'_>] = &[
                (&sending, T0, None, "queued", None, None),
                (&receiving, T0 + 1, None, "receiving", None, None),
                (&sending, T0 + 2, Some("queued"), "sending", None, None),
                (&sending, T0 + 3, Some("sending"), "sending", Some(11200), Some("media \"a.png\"\nHTTP 404")),
                (&delivered, T0 + 4, None, "delivered", None, None),
            ];
            for (key, at, from, to, code, detail) in events {
                c.execute(
                    "INSERT INTO message_events (key, at, from_status, to_status, error_code, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    rusqlite::params![key, at, from, to, code, detail],
                )
                .unwrap();
            }
        }

        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        let events = store.message_events("AC1", &format!("SM{sending}")).await.unwrap().unwrap();
        let note = MessageEvent {
            at_ms: T0 + 3,
            from: Some("sending".into()),
            to: "sending".into(),
            error_code: Some(11200),
            detail: Some("media \"a.png\"\nHTTP 404".into()),
        };
        assert_eq!(events, [event(T0, None, "queued", None), event(T0 + 2, Some("queued"), "sending", None), note]);
        assert_eq!(
            store.message_events("AC1", &format!("SM{delivered}")).await.unwrap().unwrap(),
            [event(T0 + 4, None, "delivered", None)]
        );
        let sids = |ms: Vec<Message>| ms.into_iter().map(|m| m.sid).collect::<Vec<_>>();
        assert_eq!(sids(store.unfinished_outbound().await.unwrap()), [format!("SM{sending}")]);
        assert_eq!(sids(store.receiving_inbound().await.unwrap()), [format!("SM{receiving}")]);
        let replay = store.message_changes_after("AC1", 0, 100).await.unwrap();
        assert_eq!(replay.iter().map(|c| c.id).collect::<Vec<_>>(), [1, 2, 3, 5], "the old note is not replayed");
        drop(store);

        let c = Connection::open(&path).unwrap();
        let indexes: Vec<String> = c
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN
                      ('message_events_by_key', 'messages_unfinished', 'messages_receiving')",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(indexes.is_empty(), "{indexes:?}");
    }

    #[tokio::test]
    async fn a_database_newer_than_the_binary_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("future.db");
        let newer = MIGRATIONS.len() + 1;
        Connection::open(&path).unwrap().pragma_update(None, "user_version", i64::try_from(newer).unwrap()).unwrap();

        let Err(e) = SqliteStore::open(path.to_str().unwrap()).await else { panic!("a newer schema must be refused") };
        let expected = format!(
            "the database schema is version {newer}, newer than this binary knows ({}); upgrade Switchboard",
            MIGRATIONS.len()
        );
        assert_eq!(format!("{e:#}"), expected);

        let c = Connection::open(&path).unwrap();
        let version: i64 = c.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, i64::try_from(newer).unwrap(), "the version is left as found");
        let tables: i64 =
            c.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table'", [], |r| r.get(0)).unwrap();
        assert_eq!(tables, 0, "nothing was migrated");
    }
}
