//! Storage behaviour every engine must show, written against [`Store`] alone.
//!
//! Each behaviour is an async fn taking a fresh, empty store. An engine's test module runs the
//! whole list with `conformance::suite!(open_expr)`, where `open_expr` is an async expression
//! giving `(Arc<dyn Store>, guard)`; the guard (a temporary directory, a scratch schema) lives
//! until the test ends. Engine-specific checks (commit counts, query plans) stay with the engine.

use super::callbacks::{AttemptRecord, NewCallback};
use super::links::ShortLink;
use super::messages::{Conditional, MessageEvent, MessageFilter};
use super::{
    Account, AccountEdit, AccountRecord, AccountStatus, ApiKey, Content, Cursor, KeyType, Media, Store, Transition,
};
use std::sync::Arc;
use switchboard_domain::message::{Message, SendOptions};
use switchboard_domain::sid::KeyGenerator;
use switchboard_domain::status::{Direction, Status};
use switchboard_domain::TwilioError;

/// Runs every behaviour below as a `#[tokio::test]` against the stores `$open` gives.
///
/// `suite!(optional $open)` is for engines that need a server: `$open` then gives an `Option`,
/// and `None` (no server configured) skips the test after the engine has said so.
macro_rules! suite {
    (@each required $open:expr; $($behaviour:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $behaviour() {
                let (store, _guard) = $open.await;
                $crate::store::conformance::$behaviour(store).await;
            }
        )*
    };
    (@each optional $open:expr; $($behaviour:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $behaviour() {
                let Some((store, _guard)) = $open.await else { return };
                $crate::store::conformance::$behaviour(store).await;
            }
        )*
    };
    (optional $open:expr) => {
        $crate::store::conformance::suite!(@list optional $open);
    };
    ($open:expr) => {
        $crate::store::conformance::suite!(@list required $open);
    };
    (@list $mode:ident $open:expr) => {
        $crate::store::conformance::suite!(@each $mode $open;
            an_upserted_account_replaces_its_token,
            inserting_an_existing_account_keeps_its_stored_token,
            a_main_account_owns_itself_and_is_active,
            subaccounts_are_created_up_to_the_limit_and_listed_with_their_owner,
            an_account_edit_changes_name_status_and_rotates_tokens,
            a_key_is_stored_renamed_and_deleted_only_within_its_account,
            every_change_to_an_account_or_key_advances_the_credentials_sequence,
            a_message_is_fetched_by_its_sid_only_within_its_account,
            a_failed_insert_leaves_the_other_writes_intact,
            a_batch_insert_stores_every_message_with_its_first_event,
            lists_run_newest_first_and_page_both_ways,
            lists_filter_by_to_from_and_send_date,
            a_message_can_be_redacted_once_it_has_left_the_queue,
            deleting_a_final_message_removes_its_history_but_not_its_unsent_callbacks,
            a_sent_message_can_be_deleted_once_its_receipt_window_has_passed,
            a_transition_applies_only_from_the_status_it_expects,
            a_message_is_found_by_its_carrier_id,
            unfinished_outbound_lists_messages_still_moving_oldest_first,
            receiving_inbound_lists_only_inbound_messages_still_being_processed,
            a_note_joins_the_history_without_changing_the_status,
            the_history_of_an_unknown_or_foreign_message_is_none,
            notes_join_the_history_in_order_but_never_the_stream_replay,
            the_history_keeps_every_event_of_a_long_lifecycle_in_order,
            a_message_leaves_the_unfinished_lists_when_final_and_when_deleted,
            the_replay_skips_a_deleted_message,
            recent_inbound_from_an_address_is_seen_only_since_the_given_time,
            purge_removes_only_old_messages_that_are_done_with,
            a_final_attempt_closes_a_callback_and_every_attempt_is_kept,
            pending_callbacks_come_in_outbox_order,
            feedback_is_created_once_and_updated_unless_kept,
            a_template_is_stored_fetched_and_deleted_within_its_account,
            templates_are_paged_oldest_first_both_ways,
            an_opt_out_applies_to_its_scope_until_lifted,
            a_sticky_sender_holds_until_it_goes_stale,
            media_are_kept_with_their_bytes_and_listed_in_attachment_order,
            deleting_a_media_item_removes_only_it,
            a_click_is_counted_and_returns_the_link_as_it_was,
            a_multipart_message_is_tallied_segment_by_segment_until_forgotten,
            inbound_parts_gather_by_message_in_any_order_and_go_stale_from_the_first,
        );
    };
}
pub(crate) use suite;

const T0: i64 = 1_700_000_000_000;
const SENDER: &str = "+14155550100";
const HANDSET: &str = "+14155552671";

/// A queued outbound SMS of `account` to `to`, created at `at`.
pub(crate) fn outbound(keys: &KeyGenerator, account: &str, to: &str, at: i64) -> Message {
    Message::builder(format!("SM{}", keys.next(at)), account, to, at).from(Some(SENDER.into())).body("hi").build()
}

/// An inbound message from `from` to the account's sender, in `status`.
fn inbound(keys: &KeyGenerator, account: &str, from: &str, at: i64, status: Status) -> Message {
    Message {
        from: Some(from.into()),
        to: SENDER.into(),
        status,
        direction: Direction::Inbound,
        ..outbound(keys, account, SENDER, at)
    }
}

fn with_status(m: Message, status: Status) -> Message {
    Message { status, ..m }
}

fn sids(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.sid.as_str()).collect()
}

fn callback(account: &str, token: &str) -> NewCallback {
    NewCallback {
        account_sid: account.into(),
        url: "https://example.com/status#rc=3".into(),
        method: "POST".into(),
        params: vec![("MessageStatus".into(), "sent".into()), ("Body".into(), "a b&c=d".into())],
        idempotency_token: token.into(),
    }
}

async fn insert(store: &dyn Store, messages: &[&Message]) {
    for m in messages {
        store.insert_message((*m).clone()).await.unwrap();
    }
}

async fn list(store: &dyn Store, account: &str, filter: &MessageFilter, cursor: Cursor, limit: usize) -> Vec<Message> {
    store.list_messages(account, filter, &cursor, limit).await.unwrap()
}

pub(crate) async fn an_upserted_account_replaces_its_token(store: Arc<dyn Store>) {
    store.upsert_account(Account { sid: "AC1".into(), auth_token: "one".into() }).await.unwrap();
    store.upsert_account(Account { sid: "AC1".into(), auth_token: "two".into() }).await.unwrap();
    assert_eq!(store.account("AC1").await.unwrap(), Some(Account { sid: "AC1".into(), auth_token: "two".into() }));
    assert_eq!(store.account("AC9").await.unwrap(), None);
    assert_eq!(store.accounts().await.unwrap().len(), 1);
}

pub(crate) async fn inserting_an_existing_account_keeps_its_stored_token(store: Arc<dyn Store>) {
    let first = Account { sid: "AC1".into(), auth_token: "one".into() };
    assert_eq!(store.insert_account_if_absent(first.clone()).await.unwrap(), first);
    let again = store.insert_account_if_absent(Account { sid: "AC1".into(), auth_token: "two".into() }).await;
    assert_eq!(again.unwrap(), first);
    store.insert_account_if_absent(Account { sid: "AC2".into(), auth_token: "x".into() }).await.unwrap();
    let mut all: Vec<String> = store.accounts().await.unwrap().into_iter().map(|a| a.sid).collect();
    all.sort();
    assert_eq!(all, ["AC1", "AC2"]);
}

pub(crate) async fn a_main_account_owns_itself_and_is_active(store: Arc<dyn Store>) {
    store.upsert_account(Account { sid: "AC1".into(), auth_token: "one".into() }).await.unwrap();
    let r = store.account_record("AC1").await.unwrap().unwrap();
    assert_eq!((r.owner_account_sid.as_str(), r.status, r.auth_token.as_str()), ("AC1", AccountStatus::Active, "one"));
    assert!(!r.is_subaccount());
    assert_eq!(r.secondary_token, None);
    assert_eq!(store.account_record("AC9").await.unwrap(), None);
}

fn subaccount(sid: &str, owner: &str) -> AccountRecord {
    AccountRecord {
        sid: sid.into(),
        owner_account_sid: owner.into(),
        friendly_name: format!("sub {sid}"),
        status: AccountStatus::Active,
        auth_token: format!("token-{sid}"),
        secondary_token: None,
        secondary_date_created: None,
        date_created: T0,
        date_updated: T0,
    }
}

pub(crate) async fn subaccounts_are_created_up_to_the_limit_and_listed_with_their_owner(store: Arc<dyn Store>) {
    store.upsert_account(Account { sid: "AC1".into(), auth_token: "one".into() }).await.unwrap();
    store.upsert_account(Account { sid: "AC9".into(), auth_token: "nine".into() }).await.unwrap();
    assert!(store.insert_subaccount(subaccount("AC3", "AC1"), 2).await.unwrap());
    assert!(store.insert_subaccount(subaccount("AC2", "AC1"), 2).await.unwrap());
    assert!(!store.insert_subaccount(subaccount("AC4", "AC1"), 2).await.unwrap(), "over the limit");
    assert_eq!(store.account_record("AC4").await.unwrap(), None);
    // A closed subaccount no longer counts against the limit.
    let closed = AccountEdit { status: Some(AccountStatus::Closed), ..Default::default() };
    store.update_account("AC2", closed, T0 + 1).await.unwrap().unwrap();
    assert!(store.insert_subaccount(subaccount("AC4", "AC1"), 2).await.unwrap());
    let family: Vec<String> = store.account_family("AC1").await.unwrap().into_iter().map(|r| r.sid).collect();
    assert_eq!(family, ["AC1", "AC2", "AC3", "AC4"]);
    assert_eq!(store.account_family("AC9").await.unwrap().len(), 1);
    let sub = store.account_record("AC3").await.unwrap().unwrap();
    assert_eq!(sub, subaccount("AC3", "AC1"));
    assert!(sub.is_subaccount());
    assert_eq!(store.account("AC3").await.unwrap().unwrap().auth_token, "token-AC3");
}

pub(crate) async fn an_account_edit_changes_name_status_and_rotates_tokens(store: Arc<dyn Store>) {
    store.upsert_account(Account { sid: "AC1".into(), auth_token: "one".into() }).await.unwrap();
    let edit = AccountEdit {
        friendly_name: Some("renamed".into()),
        status: Some(AccountStatus::Suspended),
        secondary_token: Some(Some("two".into())),
        promote: false,
    };
    let r = store.update_account("AC1", edit, T0).await.unwrap().unwrap();
    assert_eq!(
        (r.friendly_name.as_str(), r.status, r.secondary_token.as_deref()),
        ("renamed", AccountStatus::Suspended, Some("two"))
    );
    assert_eq!((r.date_updated, r.secondary_date_created), (T0, Some(T0)));
    let promoted = store
        .update_account("AC1", AccountEdit { promote: true, ..Default::default() }, T0 + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((promoted.auth_token.as_str(), promoted.secondary_token.as_deref()), ("two", None));
    assert_eq!(store.account_record("AC1").await.unwrap().unwrap(), promoted);
    assert_eq!(store.account("AC1").await.unwrap().unwrap().auth_token, "two");
    // Promoting without a secondary changes no token.
    let again = store
        .update_account("AC1", AccountEdit { promote: true, ..Default::default() }, T0 + 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.auth_token, "two");
    let removed = AccountEdit { secondary_token: Some(None), ..Default::default() };
    store
        .update_account(
            "AC1",
            AccountEdit { secondary_token: Some(Some("three".into())), ..Default::default() },
            T0 + 3,
        )
        .await
        .unwrap();
    assert_eq!(store.update_account("AC1", removed, T0 + 4).await.unwrap().unwrap().secondary_token, None);
    assert_eq!(store.update_account("AC9", AccountEdit::default(), T0).await.unwrap(), None);
}

pub(crate) async fn a_key_is_stored_renamed_and_deleted_only_within_its_account(store: Arc<dyn Store>) {
    let (key, secret) = ApiKey::generate("AC1", "first", KeyType::Restricted, Some(r#"{"allow":[]}"#.into()), T0);
    store.insert_key(key.clone()).await.unwrap();
    let (other, _) = ApiKey::generate("AC2", "other", KeyType::Standard, None, T0);
    store.insert_key(other.clone()).await.unwrap();
    let stored = store.key(&key.sid).await.unwrap().unwrap();
    assert_eq!(stored, key);
    assert!(stored.verify(&secret));
    assert_eq!(store.keys_of("AC1").await.unwrap(), std::slice::from_ref(&key));
    assert_eq!(store.update_key("AC2", &key.sid, Some("x".into()), None, T0 + 1).await.unwrap(), None);
    let renamed = store.update_key("AC1", &key.sid, Some("renamed".into()), None, T0 + 1).await.unwrap().unwrap();
    assert_eq!(
        (renamed.friendly_name.as_str(), renamed.policy.as_deref(), renamed.date_updated),
        ("renamed", Some(r#"{"allow":[]}"#), T0 + 1)
    );
    assert!(!store.delete_key("AC2", &key.sid).await.unwrap());
    assert!(store.delete_key("AC1", &key.sid).await.unwrap());
    assert_eq!(store.key(&key.sid).await.unwrap(), None);
    assert_eq!(store.keys_of("AC2").await.unwrap(), [other]);
}

pub(crate) async fn every_change_to_an_account_or_key_advances_the_credentials_sequence(store: Arc<dyn Store>) {
    let mut last = store.credentials_seq().await.unwrap();
    let mut advanced = |seq: i64| {
        let moved = seq > last;
        last = seq;
        moved
    };
    store.upsert_account(Account { sid: "AC1".into(), auth_token: "one".into() }).await.unwrap();
    assert!(advanced(store.credentials_seq().await.unwrap()), "token set");
    let edit = AccountEdit { status: Some(AccountStatus::Suspended), ..Default::default() };
    store.update_account("AC1", edit, T0).await.unwrap();
    assert!(advanced(store.credentials_seq().await.unwrap()), "status changed");
    let (key, _) = ApiKey::generate("AC1", "k", KeyType::Standard, None, T0);
    store.insert_key(key.clone()).await.unwrap();
    store.update_key("AC1", &key.sid, Some("n".into()), None, T0).await.unwrap();
    assert!(advanced(store.credentials_seq().await.unwrap()), "key changed");
    store.delete_key("AC1", &key.sid).await.unwrap();
    assert!(advanced(store.credentials_seq().await.unwrap()), "key deleted");
}

pub(crate) async fn a_message_is_fetched_by_its_sid_only_within_its_account(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let m = Message {
        options: SendOptions { status_callback: Some("https://example.com/cb".into()), ..Default::default() },
        ..outbound(&keys, "AC1", HANDSET, T0)
    };
    insert(store.as_ref(), &[&m]).await;
    assert_eq!(store.message("AC1", &m.sid).await.unwrap(), Some(m.clone()));
    assert_eq!(store.message("AC2", &m.sid).await.unwrap(), None);
    assert_eq!(store.message("AC1", &format!("MM{}", m.key())).await.unwrap(), None, "the prefix is part of the SID");
    assert_eq!(store.message("AC1", "SMnot-a-sid").await.unwrap(), None);
}

pub(crate) async fn a_failed_insert_leaves_the_other_writes_intact(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let m = outbound(&keys, "AC1", HANDSET, T0);
    store.insert_message(m.clone()).await.unwrap();
    assert!(store.insert_message(m.clone()).await.is_err(), "a duplicate SID must fail");
    store.insert_message(outbound(&keys, "AC1", HANDSET, T0 + 1)).await.unwrap();
    assert_eq!(list(store.as_ref(), "AC1", &MessageFilter::default(), Cursor::Start, 10).await.len(), 2);
    assert_eq!(store.message("AC1", &m.sid).await.unwrap(), Some(m));
}

pub(crate) async fn a_batch_insert_stores_every_message_with_its_first_event(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let batch: Vec<Message> = (0..3).map(|i| outbound(&keys, "AC1", HANDSET, T0 + i)).collect();
    store.insert_messages(batch.clone()).await.unwrap();
    let listed = list(store.as_ref(), "AC1", &MessageFilter::default(), Cursor::Start, 10).await;
    assert_eq!(sids(&listed), [&batch[2].sid, &batch[1].sid, &batch[0].sid]);
    for m in &batch {
        let events = store.message_events("AC1", &m.sid).await.unwrap();
        let first =
            MessageEvent { at_ms: m.date_created, from: None, to: "queued".into(), error_code: None, detail: None };
        assert_eq!(events, Some(vec![first]));
    }
}

pub(crate) async fn lists_run_newest_first_and_page_both_ways(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let m: Vec<Message> = (0..5).map(|i| outbound(&keys, "AC1", HANDSET, T0 + i)).collect();
    store.insert_messages(m.clone()).await.unwrap();
    store.insert_message(outbound(&keys, "AC2", HANDSET, T0 + 9)).await.unwrap();
    let all = MessageFilter::default();
    let s = store.as_ref();
    assert_eq!(sids(&list(s, "AC1", &all, Cursor::Start, 2).await), [&m[4].sid, &m[3].sid]);
    assert_eq!(sids(&list(s, "AC1", &all, Cursor::After(m[3].key().into()), 2).await), [&m[2].sid, &m[1].sid]);
    assert_eq!(sids(&list(s, "AC1", &all, Cursor::After(m[1].key().into()), 2).await), [&m[0].sid]);
    assert_eq!(sids(&list(s, "AC1", &all, Cursor::Before(m[2].key().into()), 2).await), [&m[4].sid, &m[3].sid]);
    assert_eq!(sids(&list(s, "AC1", &all, Cursor::Before(m[0].key().into()), 2).await), [&m[2].sid, &m[1].sid]);
    assert_eq!(list(s, "AC1", &all, Cursor::Start, 10).await.len(), 5, "another account's messages are not listed");
}

pub(crate) async fn lists_filter_by_to_from_and_send_date(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let m1 = outbound(&keys, "AC1", HANDSET, T0);
    let m2 = Message { date_sent: Some(T0 + 5000), ..outbound(&keys, "AC1", "+14155552672", T0 + 1000) };
    let m3 = Message { from: Some("+14155550199".into()), ..outbound(&keys, "AC1", HANDSET, T0 + 2000) };
    insert(store.as_ref(), &[&m1, &m2, &m3]).await;
    let s = store.as_ref();
    let to = MessageFilter { to: Some("+14155552672".into()), ..Default::default() };
    assert_eq!(sids(&list(s, "AC1", &to, Cursor::Start, 10).await), [&m2.sid]);
    let from = MessageFilter { from: Some("+14155550199".into()), ..Default::default() };
    assert_eq!(sids(&list(s, "AC1", &from, Cursor::Start, 10).await), [&m3.sid]);
    // A sent message is dated by its send date, an unsent one by its creation.
    let since = MessageFilter { sent_from_ms: Some(T0 + 1500), ..Default::default() };
    assert_eq!(sids(&list(s, "AC1", &since, Cursor::Start, 10).await), [&m3.sid, &m2.sid]);
    let until = MessageFilter { sent_until_ms: Some(T0 + 1500), ..Default::default() };
    assert_eq!(sids(&list(s, "AC1", &until, Cursor::Start, 10).await), [&m1.sid]);
}

pub(crate) async fn a_message_can_be_redacted_once_it_has_left_the_queue(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let queued = outbound(&keys, "AC1", HANDSET, T0);
    let sending = with_status(outbound(&keys, "AC1", HANDSET, T0 + 1), Status::Sending);
    let sent = with_status(outbound(&keys, "AC1", HANDSET, T0 + 2), Status::Sent);
    let delivered = with_status(outbound(&keys, "AC1", HANDSET, T0 + 3), Status::Delivered);
    let receiving = inbound(&keys, "AC1", HANDSET, T0 + 4, Status::Receiving);
    insert(store.as_ref(), &[&queued, &sending, &sent, &delivered, &receiving]).await;
    for waiting in [&queued, &sending, &receiving] {
        assert_eq!(
            store.redact_message("AC1", &waiting.sid, T0 + 5).await.unwrap(),
            Conditional::WrongStatus(waiting.status)
        );
    }
    assert_eq!(store.redact_message("AC2", &delivered.sid, T0 + 5).await.unwrap(), Conditional::NotFound);
    assert_eq!(store.redact_message("AC1", "SM123", T0 + 5).await.unwrap(), Conditional::NotFound);
    for done in [&sent, &delivered] {
        let redacted = Message { body: String::new(), date_updated: T0 + 5, ..done.clone() };
        assert_eq!(store.redact_message("AC1", &done.sid, T0 + 5).await.unwrap(), Conditional::Done(redacted.clone()));
        assert_eq!(store.message("AC1", &done.sid).await.unwrap(), Some(redacted));
    }
    assert_eq!(store.message("AC1", &queued.sid).await.unwrap(), Some(queued));
}

pub(crate) async fn deleting_a_final_message_removes_its_history_but_not_its_unsent_callbacks(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let queued = outbound(&keys, "AC1", HANDSET, T0);
    let m = outbound(&keys, "AC1", HANDSET, T0 + 1);
    insert(store.as_ref(), &[&queued, &m]).await;
    let t = Transition {
        callback: Some(callback("AC1", "tok")),
        ..Transition::new(m.key(), Status::Queued, Status::Delivered, T0 + 2)
    };
    store.apply_transitions(vec![t]).await.unwrap();
    store.set_feedback("AC1", &m.sid, "confirmed", T0 + 3, false).await.unwrap();
    store.insert_media(vec![(media_item(&keys, &m, T0 + 3, 2), vec![1, 2])]).await.unwrap();

    let any_cutoff = i64::MAX;
    assert_eq!(
        store.delete_message("AC1", &queued.sid, any_cutoff).await.unwrap(),
        Conditional::WrongStatus(Status::Queued)
    );
    assert_eq!(store.delete_message("AC2", &m.sid, any_cutoff).await.unwrap(), Conditional::NotFound);
    assert_eq!(store.delete_message("AC1", &m.sid, T0).await.unwrap(), Conditional::Done(()));
    assert_eq!(store.message("AC1", &m.sid).await.unwrap(), None);
    assert_eq!(store.message_events("AC1", &m.sid).await.unwrap(), None);
    assert_eq!(store.set_feedback("AC1", &m.sid, "confirmed", T0 + 4, true).await.unwrap(), None);
    let media = store.list_media("AC1", &m.sid, (None, None), &Cursor::Start, 10).await.unwrap();
    assert!(media.is_empty(), "{media:?}");
    let pending = store.pending_callbacks().await.unwrap();
    assert_eq!(pending.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(), [m.key()]);
    assert_eq!(store.delete_message("AC1", &m.sid, any_cutoff).await.unwrap(), Conditional::NotFound);
    assert!(store.message("AC1", &queued.sid).await.unwrap().is_some());
}

pub(crate) async fn a_sent_message_can_be_deleted_once_its_receipt_window_has_passed(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let sent = Message { date_sent: Some(T0 + 10), ..with_status(outbound(&keys, "AC1", HANDSET, T0), Status::Sent) };
    insert(store.as_ref(), &[&sent]).await;
    for still_waiting in [T0, T0 + 10] {
        assert_eq!(
            store.delete_message("AC1", &sent.sid, still_waiting).await.unwrap(),
            Conditional::WrongStatus(Status::Sent)
        );
    }
    assert!(store.message("AC1", &sent.sid).await.unwrap().is_some());
    assert_eq!(store.delete_message("AC1", &sent.sid, T0 + 11).await.unwrap(), Conditional::Done(()));
    assert_eq!(store.message("AC1", &sent.sid).await.unwrap(), None);
}

pub(crate) async fn a_transition_applies_only_from_the_status_it_expects(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let m = outbound(&keys, "AC1", HANDSET, T0);
    insert(store.as_ref(), &[&m]).await;
    let sending = Transition::new(m.key(), Status::Queued, Status::Sending, T0 + 1);
    let applied = store.apply_transitions(vec![sending.clone()]).await.unwrap();
    assert!(applied[0].applied && applied[0].callback_id.is_none());
    assert!(!store.apply_transitions(vec![sending]).await.unwrap()[0].applied, "no longer queued");
    let unknown = Transition::new("0".repeat(32).as_str(), Status::Queued, Status::Sending, T0 + 1);
    assert!(!store.apply_transitions(vec![unknown]).await.unwrap()[0].applied);

    let sent = Transition {
        date_sent: Some(T0 + 2),
        price: Some("-0.0079".into()),
        carrier_id: Some("carrier-1".into()),
        from_addr: Some("+14155550101".into()),
        num_segments: Some(2),
        callback: Some(callback("AC1", "tok-sent")),
        ..Transition::new(m.key(), Status::Sending, Status::Sent, T0 + 2)
    };
    let undelivered = Transition {
        error: Some(TwilioError::message_failed(30003, "Unreachable destination handset")),
        body: Some(String::new()),
        to_addr: Some("+1415555XXXX".into()),
        ..Transition::new(m.key(), Status::Sent, Status::Undelivered, T0 + 3)
    };
    let applied = store.apply_transitions(vec![sent, undelivered]).await.unwrap();
    assert!(applied.iter().all(|a| a.applied), "{applied:?}");
    assert!(applied[0].callback_id.is_some() && applied[1].callback_id.is_none());

    let now = store.message("AC1", &m.sid).await.unwrap().unwrap();
    let expected = Message {
        status: Status::Undelivered,
        date_updated: T0 + 3,
        date_sent: Some(T0 + 2),
        price: Some("-0.0079".into()),
        carrier_id: Some("carrier-1".into()),
        from: Some("+14155550101".into()),
        num_segments: 2,
        error_code: Some(30003),
        error_message: Some("Unreachable destination handset".into()),
        body: String::new(),
        to: "+1415555XXXX".into(),
        ..m.clone()
    };
    assert_eq!(now, expected);
    let events = store.message_events("AC1", &m.sid).await.unwrap().unwrap();
    let steps: Vec<(Option<&str>, &str, Option<u32>)> =
        events.iter().map(|e| (e.from.as_deref(), e.to.as_str(), e.error_code)).collect();
    assert_eq!(
        steps,
        [
            (None, "queued", None),
            (Some("queued"), "sending", None),
            (Some("sending"), "sent", None),
            (Some("sent"), "undelivered", Some(30003))
        ]
    );
    let pending = store.pending_callbacks().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((Some(pending[0].id), pending[0].key.as_str()), (applied[0].callback_id, m.key()));
    assert_eq!(
        (pending[0].request.clone(), pending[0].attempts, pending[0].created_at),
        (callback("AC1", "tok-sent"), 0, T0 + 2)
    );
}

pub(crate) async fn a_message_is_found_by_its_carrier_id(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let m = outbound(&keys, "AC1", HANDSET, T0);
    insert(store.as_ref(), &[&m]).await;
    let t = Transition {
        carrier_id: Some("carrier-7".into()),
        ..Transition::new(m.key(), Status::Queued, Status::Sent, T0 + 1)
    };
    store.apply_transitions(vec![t]).await.unwrap();
    let found = store.message_by_carrier_id("carrier-7").await.unwrap().map(|m| m.sid);
    assert_eq!(found, Some(m.sid));
    assert_eq!(store.message_by_carrier_id("carrier-8").await.unwrap(), None);
}

pub(crate) async fn unfinished_outbound_lists_messages_still_moving_oldest_first(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let queued = outbound(&keys, "AC1", HANDSET, T0);
    let delivered = with_status(outbound(&keys, "AC1", HANDSET, T0 + 1), Status::Delivered);
    let sent = with_status(outbound(&keys, "AC2", HANDSET, T0 + 2), Status::Sent);
    let receiving = inbound(&keys, "AC1", HANDSET, T0 + 3, Status::Receiving);
    let scheduled = with_status(outbound(&keys, "AC1", HANDSET, T0 + 4), Status::Scheduled);
    let failed = with_status(outbound(&keys, "AC1", HANDSET, T0 + 5), Status::Failed);
    insert(store.as_ref(), &[&scheduled, &failed, &receiving, &sent, &delivered, &queued]).await;
    let unfinished = store.unfinished_outbound().await.unwrap();
    assert_eq!(sids(&unfinished), [&queued.sid, &sent.sid, &scheduled.sid]);
}

pub(crate) async fn receiving_inbound_lists_only_inbound_messages_still_being_processed(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let first = inbound(&keys, "AC1", HANDSET, T0, Status::Receiving);
    let done = inbound(&keys, "AC1", HANDSET, T0 + 1, Status::Received);
    let second = inbound(&keys, "AC2", HANDSET, T0 + 2, Status::Receiving);
    insert(store.as_ref(), &[&second, &done, &first]).await;
    assert_eq!(sids(&store.receiving_inbound().await.unwrap()), [&first.sid, &second.sid]);
}

pub(crate) async fn a_note_joins_the_history_without_changing_the_status(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let m = inbound(&keys, "AC1", HANDSET, T0, Status::Received);
    insert(store.as_ref(), &[&m]).await;
    store
        .add_message_note(m.key(), T0 + 1, Status::Received, Some(11200), "HTTP 500 from the webhook".into())
        .await
        .unwrap();
    let events = store.message_events("AC1", &m.sid).await.unwrap().unwrap();
    let note = MessageEvent {
        at_ms: T0 + 1,
        from: Some("received".into()),
        to: "received".into(),
        error_code: Some(11200),
        detail: Some("HTTP 500 from the webhook".into()),
    };
    assert_eq!(events.last(), Some(&note));
    assert_eq!(store.message("AC1", &m.sid).await.unwrap(), Some(m));
}

pub(crate) async fn the_history_of_an_unknown_or_foreign_message_is_none(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let m = outbound(&keys, "AC1", HANDSET, T0);
    insert(store.as_ref(), &[&m]).await;
    assert_eq!(store.message_events("AC2", &m.sid).await.unwrap(), None);
    assert_eq!(store.message_callbacks("AC2", &m.sid).await.unwrap(), None);
    assert_eq!(store.message_events("AC1", "SMbad").await.unwrap(), None);
    assert_eq!(store.message_callbacks("AC1", &format!("SM{}", keys.next(T0))).await.unwrap(), None);
    assert_eq!(store.message_callbacks("AC1", &m.sid).await.unwrap(), Some(vec![]));
}

/// The statuses of the replayed changes of `m`, in order.
async fn replayed(store: &dyn Store, m: &Message) -> Vec<Status> {
    let changes = store.message_changes_after(&m.account_sid, 0, 1000).await.unwrap();
    assert!(changes.windows(2).all(|w| w[0].id < w[1].id), "replayed by increasing id");
    changes.iter().filter(|c| c.message.sid == m.sid).map(|c| c.message.status).collect()
}

pub(crate) async fn notes_join_the_history_in_order_but_never_the_stream_replay(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let m = outbound(&keys, "AC1", HANDSET, T0);
    insert(store.as_ref(), &[&m]).await;
    let sending = Transition::new(m.key(), Status::Queued, Status::Sending, T0 + 1);
    store.apply_transitions(vec![sending]).await.unwrap();
    store.add_message_note(m.key(), T0 + 2, Status::Sending, None, "body dropped".into()).await.unwrap();
    let sent = Transition {
        carrier_id: Some("c-1".into()),
        ..Transition::new(m.key(), Status::Sending, Status::Sent, T0 + 3)
    };
    store.apply_transitions(vec![sent]).await.unwrap();
    store.add_message_note(m.key(), T0 + 4, Status::Sent, Some(11200), "HTTP 500".into()).await.unwrap();

    let event = |at_ms, from: Option<&str>, to: &str, error_code, detail: Option<&str>| MessageEvent {
        at_ms,
        from: from.map(str::to_string),
        to: to.into(),
        error_code,
        detail: detail.map(str::to_string),
    };
    assert_eq!(
        store.message_events("AC1", &m.sid).await.unwrap().unwrap(),
        [
            event(T0, None, "queued", None, None),
            event(T0 + 1, Some("queued"), "sending", None, None),
            event(T0 + 2, Some("sending"), "sending", None, Some("body dropped")),
            event(T0 + 3, Some("sending"), "sent", None, None),
            event(T0 + 4, Some("sent"), "sent", Some(11200), Some("HTTP 500")),
        ]
    );
    assert_eq!(replayed(store.as_ref(), &m).await, [Status::Queued, Status::Sending, Status::Sent]);
    let now = store.message("AC1", &m.sid).await.unwrap().unwrap();
    assert_eq!((now.status, now.date_updated), (Status::Sent, T0 + 3), "a note changes nothing of the message");
}

pub(crate) async fn the_history_keeps_every_event_of_a_long_lifecycle_in_order(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let m = outbound(&keys, "AC1", HANDSET, T0);
    insert(store.as_ref(), &[&m]).await;
    let mut expected =
        vec![MessageEvent { at_ms: T0, from: None, to: "queued".into(), error_code: None, detail: None }];
    // A carrier that keeps failing: a note per attempt, with text that needs escaping.
    store.apply_transitions(vec![Transition::new(m.key(), Status::Queued, Status::Sending, T0 + 1)]).await.unwrap();
    expected.push(MessageEvent {
        at_ms: T0 + 1,
        from: Some("queued".into()),
        to: "sending".into(),
        error_code: None,
        detail: None,
    });
    for i in 0..40 {
        let detail = format!("attempt {i}: \"busy\"\nretrying \\ later");
        store.add_message_note(m.key(), T0 + 2 + i, Status::Sending, Some(30008), detail.clone()).await.unwrap();
        expected.push(MessageEvent {
            at_ms: T0 + 2 + i,
            from: Some("sending".into()),
            to: "sending".into(),
            error_code: Some(30008),
            detail: Some(detail),
        });
    }
    let failed = Transition {
        error: Some(TwilioError::message_failed(30008, "Unknown error")),
        ..Transition::new(m.key(), Status::Sending, Status::Failed, T0 + 100)
    };
    store.apply_transitions(vec![failed]).await.unwrap();
    expected.push(MessageEvent {
        at_ms: T0 + 100,
        from: Some("sending".into()),
        to: "failed".into(),
        error_code: Some(30008),
        detail: None,
    });
    assert_eq!(store.message_events("AC1", &m.sid).await.unwrap().unwrap(), expected);
    assert_eq!(replayed(store.as_ref(), &m).await, [Status::Queued, Status::Sending, Status::Failed]);
}

pub(crate) async fn a_message_leaves_the_unfinished_lists_when_final_and_when_deleted(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let delivered = outbound(&keys, "AC1", HANDSET, T0);
    let sent = Message { date_sent: Some(T0 + 1), ..outbound(&keys, "AC1", HANDSET, T0 + 1) };
    let waiting = outbound(&keys, "AC1", HANDSET, T0 + 2);
    let receiving = inbound(&keys, "AC1", HANDSET, T0 + 3, Status::Receiving);
    insert(store.as_ref(), &[&delivered, &sent, &waiting, &receiving]).await;
    let s = store.as_ref();
    assert_eq!(sids(&s.unfinished_outbound().await.unwrap()), [&delivered.sid, &sent.sid, &waiting.sid]);

    let step = |m: &Message, from, to| Transition::new(m.key(), from, to, T0 + 5);
    let moves = vec![
        step(&delivered, Status::Queued, Status::Sending),
        step(&delivered, Status::Sending, Status::Sent),
        step(&delivered, Status::Sent, Status::Delivered),
        step(&sent, Status::Queued, Status::Sent),
        step(&receiving, Status::Receiving, Status::Received),
    ];
    assert!(s.apply_transitions(moves).await.unwrap().iter().all(|a| a.applied));
    assert_eq!(sids(&s.unfinished_outbound().await.unwrap()), [&sent.sid, &waiting.sid], "sent still waits");
    assert!(s.receiving_inbound().await.unwrap().is_empty());

    assert_eq!(s.delete_message("AC1", &sent.sid, T0 + 10).await.unwrap(), Conditional::Done(()));
    assert_eq!(sids(&s.unfinished_outbound().await.unwrap()), [&waiting.sid]);
    let late = Transition::new(sent.key(), Status::Sent, Status::Delivered, T0 + 11);
    assert!(!s.apply_transitions(vec![late]).await.unwrap()[0].applied, "a deleted message takes no change");
    assert_eq!(sids(&s.unfinished_outbound().await.unwrap()), [&waiting.sid]);
}

pub(crate) async fn the_replay_skips_a_deleted_message(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let gone = outbound(&keys, "AC1", HANDSET, T0);
    let kept = outbound(&keys, "AC1", HANDSET, T0 + 1);
    let purged = outbound(&keys, "AC1", HANDSET, T0 + 2);
    insert(store.as_ref(), &[&gone, &kept, &purged]).await;
    let done = |m: &Message| Transition::new(m.key(), Status::Queued, Status::Delivered, T0 + 3);
    store.apply_transitions(vec![done(&gone), done(&kept), done(&purged)]).await.unwrap();
    let s = store.as_ref();
    assert_eq!(s.delete_message("AC1", &gone.sid, T0).await.unwrap(), Conditional::Done(()));
    // The purge takes the oldest final message first: `gone` is deleted already, so `kept`.
    assert_eq!(s.purge_messages_before(T0 + 2, T0, 10).await.unwrap(), 1);
    assert_eq!(s.message("AC1", &kept.sid).await.unwrap(), None);

    let changes = s.message_changes_after("AC1", 0, 1000).await.unwrap();
    let replayed: Vec<(&str, Status)> = changes.iter().map(|c| (c.message.sid.as_str(), c.message.status)).collect();
    assert_eq!(replayed, [(purged.sid.as_str(), Status::Queued), (purged.sid.as_str(), Status::Delivered)]);
    let after_first = s.message_changes_after("AC1", changes[0].id, 1000).await.unwrap();
    assert_eq!(after_first.iter().map(|c| c.id).collect::<Vec<_>>(), [changes[1].id]);
}

pub(crate) async fn recent_inbound_from_an_address_is_seen_only_since_the_given_time(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let received = inbound(&keys, "AC1", HANDSET, T0 + 1000, Status::Received);
    let reply = Message { from: Some(HANDSET.into()), ..outbound(&keys, "AC1", SENDER, T0 + 3000) };
    insert(store.as_ref(), &[&received, &reply]).await;
    let s = store.as_ref();
    assert!(s.has_inbound_since("AC1", HANDSET, T0).await.unwrap());
    assert!(s.has_inbound_since("AC1", HANDSET, T0 + 1000).await.unwrap());
    assert!(!s.has_inbound_since("AC1", HANDSET, T0 + 2000).await.unwrap(), "outbound messages do not count");
    assert!(!s.has_inbound_since("AC1", "+14155552672", T0).await.unwrap());
    assert!(!s.has_inbound_since("AC2", HANDSET, T0).await.unwrap());
}

pub(crate) async fn purge_removes_only_old_messages_that_are_done_with(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let old_delivered = with_status(outbound(&keys, "AC1", HANDSET, T0), Status::Delivered);
    let old_queued = outbound(&keys, "AC1", HANDSET, T0 + 1);
    let old_sent = with_status(outbound(&keys, "AC2", HANDSET, T0 + 2), Status::Sent);
    let old_receiving = inbound(&keys, "AC1", HANDSET, T0 + 3, Status::Receiving);
    // Created long ago but sent only lately (a scheduled message): its receipt may still come.
    let lately_sent =
        Message { date_sent: Some(T0 + 9_000), ..with_status(outbound(&keys, "AC1", HANDSET, T0 + 4), Status::Sent) };
    let new_delivered = with_status(outbound(&keys, "AC1", HANDSET, T0 + 10_000), Status::Delivered);
    insert(store.as_ref(), &[&old_delivered, &old_queued, &old_sent, &old_receiving, &lately_sent, &new_delivered])
        .await;
    let receipt_cutoff = T0 + 8_000;
    assert_eq!(store.purge_messages_before(T0 + 5000, receipt_cutoff, 1).await.unwrap(), 1);
    assert_eq!(store.message("AC1", &old_delivered.sid).await.unwrap(), None, "oldest first");
    assert_eq!(store.purge_messages_before(T0 + 5000, receipt_cutoff, 10).await.unwrap(), 1);
    assert_eq!(store.purge_messages_before(T0 + 5000, receipt_cutoff, 10).await.unwrap(), 0);
    assert_eq!(store.message("AC2", &old_sent.sid).await.unwrap(), None);
    assert_eq!(store.message_events("AC2", &old_sent.sid).await.unwrap(), None);
    for kept in [&old_queued, &old_receiving, &lately_sent, &new_delivered] {
        assert!(store.message("AC1", &kept.sid).await.unwrap().is_some(), "{kept:?}");
    }
}

pub(crate) async fn a_final_attempt_closes_a_callback_and_every_attempt_is_kept(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let m = outbound(&keys, "AC1", HANDSET, T0);
    insert(store.as_ref(), &[&m]).await;
    let t = Transition {
        callback: Some(callback("AC1", "tok")),
        ..Transition::new(m.key(), Status::Queued, Status::Sent, T0 + 1)
    };
    let id = store.apply_transitions(vec![t]).await.unwrap()[0].callback_id.unwrap();
    let failed =
        AttemptRecord { at_ms: T0 + 2, http_status: Some(503), latency_ms: 40, error: Some("HTTP 503".into()) };
    store.record_callback_attempt(id, failed.clone(), None).await.unwrap();
    let pending = store.pending_callbacks().await.unwrap();
    assert_eq!((pending.len(), pending[0].attempts), (1, 1));
    let ok = AttemptRecord { at_ms: T0 + 3, http_status: Some(200), latency_ms: 12, error: None };
    store.record_callback_attempt(id, ok.clone(), Some("delivered")).await.unwrap();
    assert!(store.pending_callbacks().await.unwrap().is_empty());
    let views = store.message_callbacks("AC1", &m.sid).await.unwrap().unwrap();
    assert_eq!(views.len(), 1);
    assert_eq!((views[0].row.id, views[0].row.attempts, views[0].state.as_str()), (id, 2, "delivered"));
    assert_eq!(views[0].row.request, callback("AC1", "tok"));
    assert_eq!(views[0].attempts, [failed, ok]);
}

pub(crate) async fn pending_callbacks_come_in_outbox_order(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let (a, b) = (outbound(&keys, "AC1", HANDSET, T0), outbound(&keys, "AC1", HANDSET, T0 + 1));
    insert(store.as_ref(), &[&a, &b]).await;
    let step = |m: &Message, from, to, at, token: &str| Transition {
        callback: Some(callback("AC1", token)),
        ..Transition::new(m.key(), from, to, at)
    };
    store.apply_transitions(vec![step(&b, Status::Queued, Status::Sending, T0 + 2, "b1")]).await.unwrap();
    store.apply_transitions(vec![step(&a, Status::Queued, Status::Sending, T0 + 3, "a1")]).await.unwrap();
    store.apply_transitions(vec![step(&b, Status::Sending, Status::Sent, T0 + 4, "b2")]).await.unwrap();
    let pending = store.pending_callbacks().await.unwrap();
    let tokens: Vec<&str> = pending.iter().map(|c| c.request.idempotency_token.as_str()).collect();
    assert_eq!(tokens, ["b1", "a1", "b2"]);
    assert!(pending.windows(2).all(|w| w[0].id < w[1].id));
}

pub(crate) async fn feedback_is_created_once_and_updated_unless_kept(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let m = outbound(&keys, "AC1", HANDSET, T0);
    insert(store.as_ref(), &[&m]).await;
    let s = store.as_ref();
    let created = s.set_feedback("AC1", &m.sid, "unconfirmed", T0 + 1, true).await.unwrap().unwrap();
    assert_eq!(
        (created.message_sid.as_str(), created.outcome.as_str(), created.date_created, created.date_updated),
        (m.sid.as_str(), "unconfirmed", T0 + 1, T0 + 1)
    );
    let kept = s.set_feedback("AC1", &m.sid, "confirmed", T0 + 2, true).await.unwrap();
    assert_eq!(kept, Some(created.clone()));
    let updated = s.set_feedback("AC1", &m.sid, "confirmed", T0 + 3, false).await.unwrap().unwrap();
    assert_eq!((updated.outcome.as_str(), updated.date_created, updated.date_updated), ("confirmed", T0 + 1, T0 + 3));
    assert_eq!(s.set_feedback("AC2", &m.sid, "confirmed", T0 + 4, false).await.unwrap(), None);
    assert_eq!(s.set_feedback("AC1", "SMnope", "confirmed", T0 + 4, false).await.unwrap(), None);
}

fn template(keys: &KeyGenerator, account: &str, at: i64) -> Content {
    Content {
        sid: format!("HX{}", keys.next(at)),
        account_sid: account.into(),
        friendly_name: format!("template {at}"),
        language: "en".into(),
        variables: r#"{"1":"Ada"}"#.into(),
        types: r#"{"twilio/text":{"body":"Hello {{1}}"}}"#.into(),
        date_created: at,
        date_updated: at,
    }
}

pub(crate) async fn a_template_is_stored_fetched_and_deleted_within_its_account(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let c = template(&keys, "AC1", T0);
    store.insert_content(c.clone()).await.unwrap();
    assert_eq!(store.content("AC1", &c.sid).await.unwrap(), Some(c.clone()));
    assert_eq!(store.content("AC2", &c.sid).await.unwrap(), None);
    assert!(!store.delete_content("AC2", &c.sid).await.unwrap());
    assert!(store.delete_content("AC1", &c.sid).await.unwrap());
    assert!(!store.delete_content("AC1", &c.sid).await.unwrap());
    assert_eq!(store.content("AC1", &c.sid).await.unwrap(), None);
}

pub(crate) async fn templates_are_paged_oldest_first_both_ways(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let c: Vec<Content> = (0..4).map(|i| template(&keys, "AC1", T0 + i)).collect();
    for t in c.iter().rev() {
        store.insert_content(t.clone()).await.unwrap();
    }
    store.insert_content(template(&keys, "AC2", T0 + 9)).await.unwrap();
    let page = |cursor: Cursor, limit| {
        let store = store.clone();
        async move {
            let rows = store.list_contents("AC1", &cursor, limit).await.unwrap();
            rows.into_iter().map(|c| c.sid).collect::<Vec<_>>()
        }
    };
    let key = |i: usize| c[i].sid[2..].to_string();
    assert_eq!(page(Cursor::Start, 2).await, [c[0].sid.clone(), c[1].sid.clone()]);
    assert_eq!(page(Cursor::After(key(1)), 2).await, [c[2].sid.clone(), c[3].sid.clone()]);
    assert_eq!(page(Cursor::After(key(3)), 2).await, Vec::<String>::new());
    assert_eq!(page(Cursor::Before(key(3)), 2).await, [c[1].sid.clone(), c[2].sid.clone()]);
    assert_eq!(page(Cursor::Start, 10).await.len(), 4, "another account's templates are not listed");
}

pub(crate) async fn an_opt_out_applies_to_its_scope_until_lifted(store: Arc<dyn Store>) {
    let scopes = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let s = store.as_ref();
    assert!(!s.opted_out("AC1", scopes(&[SENDER]), HANDSET).await.unwrap());
    s.set_opt_out("AC1", SENDER, HANDSET, true, T0).await.unwrap();
    s.set_opt_out("AC1", SENDER, HANDSET, true, T0 + 1).await.unwrap();
    assert!(s.opted_out("AC1", scopes(&[SENDER]), HANDSET).await.unwrap());
    assert!(s.opted_out("AC1", scopes(&["MG1", SENDER]), HANDSET).await.unwrap());
    assert!(!s.opted_out("AC1", scopes(&["MG1"]), HANDSET).await.unwrap());
    assert!(!s.opted_out("AC1", scopes(&[SENDER]), "+14155552672").await.unwrap());
    assert!(!s.opted_out("AC2", scopes(&[SENDER]), HANDSET).await.unwrap());
    s.set_opt_out("AC1", SENDER, HANDSET, false, T0 + 2).await.unwrap();
    assert!(!s.opted_out("AC1", scopes(&[SENDER]), HANDSET).await.unwrap());
}

pub(crate) async fn a_sticky_sender_holds_until_it_goes_stale(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let (one, two) = ("+14155550101", "+14155550102");
    assert_eq!(s.sticky_sender("MG1", HANDSET).await.unwrap(), None);
    assert_eq!(s.claim_sticky_sender("MG1", HANDSET, one, None).await.unwrap(), one);
    assert_eq!(s.claim_sticky_sender("MG1", HANDSET, two, None).await.unwrap(), one);
    assert_eq!(s.claim_sticky_sender("MG1", HANDSET, two, Some("+14155550109")).await.unwrap(), one);
    assert_eq!(s.claim_sticky_sender("MG1", HANDSET, two, Some(one)).await.unwrap(), two);
    assert_eq!(s.sticky_sender("MG1", HANDSET).await.unwrap().as_deref(), Some(two));
    assert_eq!(s.sticky_sender("MG2", HANDSET).await.unwrap(), None);
}

fn media_item(keys: &KeyGenerator, m: &Message, at: i64, size: usize) -> Media {
    Media {
        sid: format!("ME{}", keys.next(at)),
        message_sid: m.sid.clone(),
        account_sid: m.account_sid.clone(),
        content_type: "image/png".into(),
        size,
        date_created: at,
        date_updated: at,
    }
}

pub(crate) async fn media_are_kept_with_their_bytes_and_listed_in_attachment_order(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let m = outbound(&keys, "AC1", HANDSET, T0);
    insert(store.as_ref(), &[&m]).await;
    let items: Vec<(Media, Vec<u8>)> =
        (0..3u8).map(|i| (media_item(&keys, &m, T0 + i64::from(i), 2), vec![i, 0xff])).collect();
    store.insert_media(items.clone()).await.unwrap();
    let me: Vec<Media> = items.iter().map(|(m, _)| m.clone()).collect();
    let key = |i: usize| me[i].sid[2..].to_string();
    let list = |created, cursor: Cursor, limit| {
        let (store, sid) = (store.clone(), m.sid.clone());
        async move { store.list_media("AC1", &sid, created, &cursor, limit).await.unwrap() }
    };
    assert_eq!(list((None, None), Cursor::Start, 10).await, me);
    assert_eq!(list((None, None), Cursor::Start, 2).await, me[..2]);
    assert_eq!(list((None, None), Cursor::After(key(1)), 2).await, me[2..]);
    assert_eq!(list((None, None), Cursor::Before(key(2)), 2).await, me[..2]);
    assert_eq!(list((Some(T0 + 1), Some(T0 + 2)), Cursor::Start, 10).await, me[1..2]);
    assert_eq!(store.media("AC1", &m.sid, &me[0].sid).await.unwrap(), Some(me[0].clone()));
    assert_eq!(store.media_content("AC1", &m.sid, &me[2].sid).await.unwrap(), Some(items[2].clone()));
    assert_eq!(store.media("AC2", &m.sid, &me[0].sid).await.unwrap(), None);
    assert!(store.list_media("AC2", &m.sid, (None, None), &Cursor::Start, 10).await.unwrap().is_empty());
}

pub(crate) async fn deleting_a_media_item_removes_only_it(store: Arc<dyn Store>) {
    let keys = KeyGenerator::new();
    let m = outbound(&keys, "AC1", HANDSET, T0);
    insert(store.as_ref(), &[&m]).await;
    let items: Vec<(Media, Vec<u8>)> = (0..2).map(|i| (media_item(&keys, &m, T0 + i, 1), vec![7])).collect();
    store.insert_media(items.clone()).await.unwrap();
    let (first, second) = (&items[0].0, &items[1].0);
    assert!(!store.delete_media("AC2", &m.sid, &first.sid).await.unwrap());
    assert!(store.delete_media("AC1", &m.sid, &first.sid).await.unwrap());
    assert!(!store.delete_media("AC1", &m.sid, &first.sid).await.unwrap());
    assert_eq!(store.media_content("AC1", &m.sid, &first.sid).await.unwrap(), None);
    let left = store.list_media("AC1", &m.sid, (None, None), &Cursor::Start, 10).await.unwrap();
    assert_eq!(left, std::slice::from_ref(second));
}

pub(crate) async fn a_click_is_counted_and_returns_the_link_as_it_was(store: Arc<dyn Store>) {
    let link = |code: &str| ShortLink {
        code: code.into(),
        account_sid: "AC1".into(),
        message_sid: format!("SM{}", "a".repeat(32)),
        link: format!("https://example.com/{code}"),
        shortened: format!("https://sb.example/l/{code}"),
        date_created: T0,
        clicks: 0,
    };
    store.insert_links(vec![link("abcdefghij"), link("klmnopqrst")]).await.unwrap();
    assert_eq!(store.click_link("abcdefghij").await.unwrap(), Some(link("abcdefghij")));
    let second = store.click_link("abcdefghij").await.unwrap();
    assert_eq!(second, Some(ShortLink { clicks: 1, ..link("abcdefghij") }));
    assert_eq!(store.click_link("klmnopqrst").await.unwrap(), Some(link("klmnopqrst")));
    assert_eq!(store.click_link("zzzzzzzzzz").await.unwrap(), None);
}

pub(crate) async fn a_multipart_message_is_tallied_segment_by_segment_until_forgotten(store: Arc<dyn Store>) {
    use super::smpp::SegmentTally;
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    store.record_segments("c:1", &ids(&["c:1", "c:2", "c:3"]), T0).await.unwrap();
    store.record_segments("c:9", &ids(&["c:9", "c:10", "c:10"]), T0 + 1000).await.unwrap();
    let tally = |delivered, settled, done_at_ms| SegmentTally {
        carrier_id: "c:1".into(),
        segments: 3,
        delivered,
        settled,
        done_at_ms,
    };
    assert_eq!(store.settle_segment("c:3", Ok(()), Some(T0 + 5)).await.unwrap(), Some(tally(1, 1, Some(T0 + 5))));
    assert_eq!(
        store.settle_segment("c:3", Ok(()), Some(T0 + 5)).await.unwrap(),
        Some(tally(1, 1, Some(T0 + 5))),
        "a repeated receipt counts once"
    );
    assert_eq!(store.settle_segment("c:2", Err(30003), None).await.unwrap(), Some(tally(1, 2, Some(T0 + 5))));
    assert_eq!(store.settle_segment("c:1", Ok(()), Some(T0 + 9)).await.unwrap(), Some(tally(2, 3, Some(T0 + 9))));
    assert_eq!(store.settle_segment("c:7", Ok(()), None).await.unwrap(), None, "not a recorded segment");
    let other = store.settle_segment("c:10", Ok(()), None).await.unwrap().unwrap();
    assert_eq!(
        (other.carrier_id.as_str(), other.segments, other.delivered),
        ("c:9", 2, 1),
        "a repeated id counts once"
    );

    store.forget_segments("c:1").await.unwrap();
    assert_eq!(store.settle_segment("c:1", Ok(()), None).await.unwrap(), None);
    assert_eq!(store.prune_segments(T0 + 1000).await.unwrap(), 0, "recorded at T0 + 1000, not before");
    assert_eq!(store.prune_segments(T0 + 1001).await.unwrap(), 2);
    assert_eq!(store.settle_segment("c:9", Ok(()), None).await.unwrap(), None);

    // An id the SMSC reuses names the newer message, with no receipt yet.
    store.record_segments("d:1", &ids(&["d:1", "d:2"]), T0).await.unwrap();
    store.settle_segment("d:2", Ok(()), None).await.unwrap();
    store.record_segments("e:1", &ids(&["e:1", "d:2"]), T0).await.unwrap();
    let reused = store.settle_segment("e:1", Ok(()), None).await.unwrap().unwrap();
    assert_eq!((reused.carrier_id.as_str(), reused.segments, reused.delivered), ("e:1", 2, 1));
}

pub(crate) async fn inbound_parts_gather_by_message_in_any_order_and_go_stale_from_the_first(store: Arc<dyn Store>) {
    use super::smpp::InboundKey;
    let key = |connector: &str, reference| InboundKey {
        connector: connector.into(),
        from: HANDSET.into(),
        to: SENDER.into(),
        reference,
        total: 3,
    };
    let (a, b, other) = (key("smsc1", 7), key("smsc1", 8), key("smsc2", 7));
    assert_eq!(store.add_inbound_part(&a, 3, "c", T0).await.unwrap(), vec![(3, "c".to_string())]);
    store.add_inbound_part(&b, 1, "x", T0 + 10).await.unwrap();
    store.add_inbound_part(&other, 1, "y", T0).await.unwrap();
    assert_eq!(store.add_inbound_part(&a, 1, "a", T0 + 20).await.unwrap(), vec![(1, "a".into()), (3, "c".into())]);
    assert_eq!(
        store.add_inbound_part(&a, 1, "A", T0 + 30).await.unwrap(),
        vec![(1, "A".into()), (3, "c".into())],
        "a repeated part replaces its text"
    );
    assert_eq!(store.stale_inbound("smsc1", T0).await.unwrap(), vec![], "nothing older than T0");
    let stale = store.stale_inbound("smsc1", T0 + 5).await.unwrap();
    assert_eq!(stale, vec![(a.clone(), vec![(1, "A".into()), (3, "c".into())])], "by its first part's arrival");
    let mut both = store.stale_inbound("smsc1", T0 + 11).await.unwrap();
    both.sort_by_key(|(k, _)| k.reference);
    assert_eq!(both.iter().map(|(k, _)| k.reference).collect::<Vec<_>>(), [7, 8]);
    store.forget_inbound(&a).await.unwrap();
    assert_eq!(store.stale_inbound("smsc1", T0 + 100).await.unwrap(), vec![(b.clone(), vec![(1, "x".into())])]);
    assert_eq!(store.add_inbound_part(&a, 2, "b", T0 + 40).await.unwrap(), vec![(2, "b".into())], "forgotten");
    assert_eq!(store.stale_inbound("smsc2", T0 + 1).await.unwrap(), vec![(other, vec![(1, "y".into())])]);
}
