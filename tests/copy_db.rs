//! `switchboard copy-db --from FILE --to postgres://…` on a SQLite database holding every kind of
//! row: each row arrives as it was (read back through the store on both sides), the counts are
//! checked, new rows continue the ids, and a non-empty target is refused. Needs the test cluster
//! (`SWITCHBOARD_TEST_PG`, started by scripts/test.sh); skipped loudly without it outside CI.

mod common;

use common::pg::{cluster, fresh_database};
use std::sync::Arc;
use switchboard::store::links::ShortLink;
use switchboard::store::senders::{
    IncomingNumber, NewPoolSender, NumberSettings, NumberStore, PhoneNumber, PoolKind, Service, ServiceRecord,
    ServiceSettings, ShortCode, SmsWebhooks,
};
use switchboard::store::{
    Account, AccountRecord, AccountStatus, ApiKey, AttemptRecord, Content, Cursor, KeyType, Media, MessageFilter,
    NewCallback, Store, Transition,
};
use switchboard_domain::message::Message;
use switchboard_domain::sid::KeyGenerator;
use switchboard_domain::status::Status;

const MAIN: &str = "AC77777777777777777777777777777777";
const SUB: &str = "AC88888888888888888888888888888888";
const T0: i64 = 1_700_000_000_000;

fn copy_db(from: &std::path::Path, to: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["copy-db", "--from"])
        .arg(from)
        .args(["--to", to])
        .output()
        .unwrap()
}

/// Every kind of row, through the store, as the server writes them.
async fn fill(store: &dyn Store) -> Vec<Message> {
    store.upsert_account(Account { sid: MAIN.into(), auth_token: "maintoken".into() }).await.unwrap();
    let sub = AccountRecord {
        sid: SUB.into(),
        owner_account_sid: MAIN.into(),
        friendly_name: "sub".into(),
        status: AccountStatus::Suspended,
        auth_token: "subtoken".into(),
        secondary_token: Some("second".into()),
        secondary_date_created: Some(T0),
        date_created: T0,
        date_updated: T0 + 1,
    };
    assert!(store.insert_subaccount(sub, 10).await.unwrap());
    let (key, _) = ApiKey::generate(MAIN, "k", KeyType::Restricted, Some("{\"allow\":[]}".into()), T0);
    store.insert_key(key).await.unwrap();

    let number = IncomingNumber {
        number: PhoneNumber {
            sid: "PN0123456789abcdef0123456789abcdef".into(),
            account_sid: MAIN.into(),
            phone_number: "+14155550100".into(),
            friendly_name: "main line".into(),
            sms: SmsWebhooks { url: Some("https://example.com/sms".into()), ..Default::default() },
            date_created: T0,
            date_updated: T0,
        },
        settings: NumberSettings { voice_url: Some("https://example.com/voice".into()), ..Default::default() },
    };
    NumberStore::<IncomingNumber>::insert_number(store, number).await.unwrap().unwrap();
    let code = ShortCode {
        sid: "SC0123456789abcdef0123456789abcdef".into(),
        account_sid: MAIN.into(),
        short_code: "12345".into(),
        country_code: "US".into(),
        friendly_name: "12345".into(),
        sms: SmsWebhooks::default(),
        api_version: "2010-04-01".into(),
        date_created: T0,
        date_updated: T0,
    };
    NumberStore::<ShortCode>::insert_number(store, code).await.unwrap().unwrap();
    let service = ServiceRecord {
        service: Service {
            sid: "MG0123456789abcdef0123456789abcdef".into(),
            account_sid: MAIN.into(),
            friendly_name: "svc".into(),
            inbound_request_url: None,
            inbound_method: "POST".into(),
            fallback_url: None,
            fallback_method: "POST".into(),
            status_callback: Some("https://example.com/status".into()),
            sticky_sender: true,
            smart_encoding: false,
            area_code_geomatch: true,
            validity_period: 600,
            use_inbound_webhook_on_number: false,
            date_created: T0,
            date_updated: T0,
        },
        settings: ServiceSettings { usecase: "marketing".into(), ..Default::default() },
    };
    store.insert_service(service).await.unwrap();
    let svc = "MG0123456789abcdef0123456789abcdef";
    store
        .add_to_pool(MAIN, svc, NewPoolSender::PhoneNumber("PN0123456789abcdef0123456789abcdef".into()), T0)
        .await
        .unwrap()
        .unwrap();
    store
        .add_to_pool(
            MAIN,
            svc,
            NewPoolSender::AlphaSender {
                sid: "AI0123456789abcdef0123456789abcdef".into(),
                alpha_sender: "ACME".into(),
            },
            T0,
        )
        .await
        .unwrap()
        .unwrap();
    store.claim_sticky_sender(svc, "+14155552671", "+14155550100", None).await.unwrap();
    store.set_opt_out(MAIN, "+14155550100", "+14155552672", true, T0).await.unwrap();
    store
        .insert_content(Content {
            sid: "HX0123456789abcdef0123456789abcdef".into(),
            account_sid: MAIN.into(),
            friendly_name: "tpl".into(),
            language: "en".into(),
            variables: "{\"1\":\"x\"}".into(),
            types: "{\"twilio/text\":{\"body\":\"hi {{1}}\"}}".into(),
            date_created: T0,
            date_updated: T0,
        })
        .await
        .unwrap();

    let keys = KeyGenerator::new();
    let mut messages = Vec::new();
    for i in 0..30 {
        let m = Message::builder(format!("SM{}", keys.next(T0 + i)), MAIN, "+14155552671", T0 + i)
            .from(Some("+14155550100".into()))
            .body(format!("message {i} with ünïcode"))
            .build();
        store.insert_message(m.clone()).await.unwrap();
        messages.push(m);
    }
    // History: a transition with its callback and attempts, a note, feedback, media, a link.
    let first = &messages[0];
    let mut t = Transition::new(first.key(), Status::Queued, Status::Sent, T0 + 100);
    t.price = Some("-0.0079".into());
    t.carrier_id = Some("carrier-1".into());
    t.callback = Some(NewCallback {
        account_sid: MAIN.into(),
        url: "https://example.com/cb#rc=2".into(),
        method: "POST".into(),
        params: vec![("MessageStatus".into(), "sent".into()), ("Body".into(), "a b&c".into())],
        idempotency_token: "tok".into(),
    });
    let applied = store.apply_transitions(vec![t]).await.unwrap();
    let id = applied[0].callback_id.unwrap();
    let attempt =
        AttemptRecord { at_ms: T0 + 200, http_status: Some(500), latency_ms: 12, error: Some("HTTP 500".into()) };
    store.record_callback_attempt(id, attempt, None).await.unwrap();
    store.add_message_note(first.key(), T0 + 300, Status::Sent, Some(11200), "webhook failed".into()).await.unwrap();
    store.set_feedback(MAIN, &first.sid, "confirmed", T0 + 400, false).await.unwrap();
    let media = Media {
        sid: "ME0123456789abcdef0123456789abcdef".into(),
        message_sid: first.sid.clone(),
        account_sid: MAIN.into(),
        content_type: "image/png".into(),
        size: 5,
        date_created: T0,
        date_updated: T0,
    };
    store.insert_media(vec![(media, vec![0, 1, 2, 255, 0])]).await.unwrap();
    store
        .insert_links(vec![ShortLink {
            code: "abcdefghij".into(),
            account_sid: MAIN.into(),
            message_sid: first.sid.clone(),
            link: "https://example.com/long".into(),
            shortened: "https://sb.example/abcdefghij".into(),
            date_created: T0,
            clicks: 0,
        }])
        .await
        .unwrap();
    store.click_link("abcdefghij").await.unwrap();
    let segments = ["smsc1:7".to_string(), "smsc1:8".to_string()];
    store.record_segments("smsc1:7", &segments, T0).await.unwrap();
    store.settle_segment("smsc1:8", Ok(()), Some(T0 + 9)).await.unwrap();
    store.add_inbound_part(&inbound_key(), 2, "second", T0).await.unwrap();
    messages[0] = store.message(MAIN, &first.sid).await.unwrap().unwrap();
    messages
}

/// A concatenated inbound message waiting for its other parts.
fn inbound_key() -> switchboard::store::smpp::InboundKey {
    switchboard::store::smpp::InboundKey {
        connector: "smsc1".into(),
        from: "+14155552671".into(),
        to: "+14155550100".into(),
        reference: 7,
        total: 3,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_db_moves_every_kind_of_row_to_postgresql_and_verifies_the_counts() {
    let Some(base) = cluster() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("source.db");
    let sqlite: Arc<dyn Store> = switchboard::store::open(file.to_str().unwrap()).await.unwrap();
    let messages = fill(sqlite.as_ref()).await;
    let target = fresh_database(&base, "copy").await;

    let out = copy_db(&file, &target);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    println!("{stdout}");
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("counts verified"), "{stdout}");
    assert!(stdout.contains("messages: "), "progress per table: {stdout}");
    assert!(stdout.contains("  messages                   30 rows"), "{stdout}");
    assert!(stdout.contains("  callback_attempts           1 rows"), "{stdout}");

    let pg: Arc<dyn Store> = switchboard::store::open(&target).await.unwrap();
    // Everything reads back the same on both sides.
    for sid in [MAIN, SUB] {
        assert_eq!(pg.account_record(sid).await.unwrap(), sqlite.account_record(sid).await.unwrap());
    }
    assert_eq!(pg.keys_of(MAIN).await.unwrap(), sqlite.keys_of(MAIN).await.unwrap());
    assert_eq!(pg.credentials_seq().await.unwrap(), sqlite.credentials_seq().await.unwrap());
    let all = MessageFilter::default();
    let listed = pg.list_messages(MAIN, &all, &Cursor::Start, 100).await.unwrap();
    assert_eq!(listed, sqlite.list_messages(MAIN, &all, &Cursor::Start, 100).await.unwrap());
    assert_eq!(listed.len(), messages.len());
    let first = &messages[0].sid;
    assert_eq!(pg.message(MAIN, first).await.unwrap().as_ref(), Some(&messages[0]));
    assert_eq!(pg.message_events(MAIN, first).await.unwrap(), sqlite.message_events(MAIN, first).await.unwrap());
    assert_eq!(pg.message_callbacks(MAIN, first).await.unwrap(), sqlite.message_callbacks(MAIN, first).await.unwrap());
    // Copied work has no owner node: the first node to start claims it, then resumes it.
    let claimed = pg.take_over_orphans().await.unwrap();
    assert_eq!(claimed.callbacks, sqlite.pending_callbacks().await.unwrap());
    assert_eq!(claimed.outbound, sqlite.unfinished_outbound().await.unwrap());
    assert_eq!(pg.pending_callbacks().await.unwrap(), sqlite.pending_callbacks().await.unwrap());
    assert_eq!(pg.message_by_carrier_id("carrier-1").await.unwrap().map(|m| m.sid), Some(first.clone()));
    let (me, pn, sc, mg) = (
        "ME0123456789abcdef0123456789abcdef",
        "PN0123456789abcdef0123456789abcdef",
        "SC0123456789abcdef0123456789abcdef",
        "MG0123456789abcdef0123456789abcdef",
    );
    assert_eq!(pg.media_content(MAIN, first, me).await.unwrap(), sqlite.media_content(MAIN, first, me).await.unwrap());
    assert_eq!(
        NumberStore::<IncomingNumber>::number(pg.as_ref(), MAIN, pn).await.unwrap(),
        NumberStore::<IncomingNumber>::number(sqlite.as_ref(), MAIN, pn).await.unwrap()
    );
    assert_eq!(
        NumberStore::<ShortCode>::number(pg.as_ref(), MAIN, sc).await.unwrap(),
        NumberStore::<ShortCode>::number(sqlite.as_ref(), MAIN, sc).await.unwrap()
    );
    assert_eq!(pg.service_record(MAIN, mg).await.unwrap(), sqlite.service_record(MAIN, mg).await.unwrap());
    assert_eq!(pg.pool(mg).await.unwrap(), sqlite.pool(mg).await.unwrap());
    assert_eq!(pg.list_pool(MAIN, mg, PoolKind::AlphaSender, &Cursor::Start, 10).await.unwrap().unwrap().len(), 1);
    assert_eq!(pg.sticky_sender(mg, "+14155552671").await.unwrap().as_deref(), Some("+14155550100"));
    assert!(pg.opted_out(MAIN, vec!["+14155550100".into()], "+14155552672").await.unwrap());
    assert_eq!(
        pg.content(MAIN, "HX0123456789abcdef0123456789abcdef").await.unwrap(),
        sqlite.content(MAIN, "HX0123456789abcdef0123456789abcdef").await.unwrap()
    );
    assert_eq!(pg.click_link("abcdefghij").await.unwrap().map(|l| l.clicks), Some(1));
    let tally = pg.settle_segment("smsc1:7", Ok(()), Some(T0 + 5)).await.unwrap().unwrap();
    assert_eq!(
        (tally.segments, tally.delivered, tally.done_at_ms),
        (2, 2, Some(T0 + 9)),
        "a multipart message's receipts so far"
    );
    assert_eq!(
        pg.stale_inbound("smsc1", T0 + 1).await.unwrap(),
        vec![(inbound_key(), vec![(2, "second".to_string())])]
    );
    let kept = pg.set_feedback(MAIN, first, "unconfirmed", T0 + 500, true).await.unwrap().unwrap();
    assert_eq!(kept.outcome, "confirmed");

    // New rows continue the copied ids.
    let copied = sqlite.message_callbacks(MAIN, first).await.unwrap().unwrap()[0].row.id;
    let mut t = Transition::new(messages[1].key(), Status::Queued, Status::Sending, T0 + 600);
    t.callback = sqlite.message_callbacks(MAIN, first).await.unwrap().unwrap()[0].row.request.clone().into();
    let applied = pg.apply_transitions(vec![t]).await.unwrap();
    assert!(applied[0].applied && applied[0].callback_id.unwrap() > copied);

    // A target that holds rows is refused, and left as it was.
    let again = copy_db(&file, &target);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(pg.list_messages(MAIN, &all, &Cursor::Start, 100).await.unwrap().len(), messages.len());
}
