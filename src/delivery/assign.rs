//! A Messaging Service's sender choice: which pool member sends a message (sticky sender,
//! area-code match, round robin), and the opt-out check against the chosen sender.

use super::{fail, lanes, transition, Inner};
use crate::store::senders::{PoolKind, PoolSender};
use crate::store::Transition;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use switchboard_domain::message::{num_segments, Message};
use switchboard_domain::routing::{select_sender, Candidate, CandidateKind};
use switchboard_domain::status::Status;
use switchboard_domain::TwilioError;

/// The pool as sender selection sees it.
fn candidates(pool: &[PoolSender]) -> Vec<Candidate<'_>> {
    pool.iter()
        .map(|p| Candidate {
            address: &p.address,
            kind: match p.kind {
                PoolKind::PhoneNumber => CandidateKind::Phone,
                PoolKind::ShortCode => CandidateKind::ShortCode,
                PoolKind::AlphaSender => CandidateKind::Alpha,
            },
            country: p.country_code.as_deref(),
        })
        .collect()
}

/// The pool member that sends to `to` (spreading equal candidates round robin); `None` when
/// none can reach it.
pub(super) fn choose(
    inner: &Inner,
    pool: &[PoolSender],
    to: &str,
    sticky: Option<&str>,
    area_code_geomatch: bool,
) -> Option<String> {
    let spread = inner.spread.fetch_add(1, Ordering::Relaxed);
    select_sender(&candidates(pool), to, sticky, area_code_geomatch, spread).map(|i| pool[i].address.clone())
}

/// The address without its channel prefix: `whatsapp:+1…` → `+1…`.
fn bare(address: &str) -> &str {
    address.rsplit(':').next().unwrap_or(address)
}

/// The `From` for a chosen sender: a channel recipient (`whatsapp:+1…`) is reached from the
/// same channel of the chosen number.
fn from_for(to: &str, sender: String) -> String {
    match to.split_once(':') {
        Some((channel, _)) if sender.starts_with('+') => format!("{channel}:{sender}"),
        _ => sender,
    }
}

/// A Messaging Service message (`accepted`, or `scheduled` once its time came): choose its
/// sender, then queue it like any other message.
pub(super) async fn assign_sender(inner: Arc<Inner>, mut m: Message) {
    let Some(mss) = m.messaging_service_sid.clone() else { return };
    let service = match inner.store.service(&m.account_sid, &mss).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            fail(&inner, &m, m.status, TwilioError::service_gone()).await;
            return;
        }
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), message = %m.sid, "sender selection postponed");
            return;
        }
    };
    let to_bare = bare(&m.to).to_string();
    // A sticky sender that left the pool may be replaced.
    let mut stale_sticky = None;
    let sender = match &m.options.requested_from {
        Some(f) => Some(bare(f).to_string()),
        None => {
            let pool = inner.store.pool(&mss).await.unwrap_or_default();
            let sticky = if service.sticky_sender {
                inner.store.sticky_sender(&mss, &to_bare).await.ok().flatten()
            } else {
                None
            };
            if let Some(s) = &sticky {
                if !pool.iter().any(|p| &p.address == s) {
                    stale_sticky = Some(s.clone());
                }
            }
            choose(&inner, &pool, &m.to, sticky.as_deref(), service.area_code_geomatch)
        }
    };
    let Some(sender) = sender else {
        fail(&inner, &m, m.status, TwilioError::no_sender_in_pool()).await;
        return;
    };
    match inner.store.opted_out(&m.account_sid, vec![sender.clone(), mss.clone()], &to_bare).await {
        Ok(true) => {
            fail(&inner, &m, m.status, TwilioError::opted_out()).await;
            return;
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "opt-out check failed; sending anyway"),
    }
    // Concurrent sends to one recipient race here: the first claim wins and every other send
    // adopts its sender.
    let sender = if service.sticky_sender && m.options.requested_from.is_none() {
        match inner.store.claim_sticky_sender(&mss, &to_bare, &sender, stale_sticky.as_deref()).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "sticky sender not stored");
                sender
            }
        }
    } else {
        sender
    };
    let from = from_for(&m.to, sender);
    let segments = num_segments(&m.to, &m.body, m.num_media > 0 || m.options.send_as_mms == Some(true));
    let mut t = Transition::new(m.key(), m.status, Status::Queued, crate::clock::now_ms());
    t.from_addr = Some(from.clone());
    t.num_segments = Some(segments);
    m.from = Some(from);
    m.num_segments = segments;
    if transition(&inner, &m, t, None).await {
        m.status = Status::Queued;
        lanes::enqueue(&inner, m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(kind: PoolKind, address: &str, country: Option<&str>) -> PoolSender {
        PoolSender {
            sid: "PN00000000000000000000000000000000".into(),
            service_sid: "MG00000000000000000000000000000000".into(),
            kind,
            address: address.into(),
            country_code: country.map(str::to_string),
            date_created: 0,
        }
    }

    #[test]
    fn each_pool_kind_maps_to_its_candidate_kind_with_address_and_country() {
        let pool = [
            member(PoolKind::PhoneNumber, "+14155550100", Some("US")),
            member(PoolKind::ShortCode, "12345", Some("US")),
            member(PoolKind::AlphaSender, "MyBrand", None),
        ];
        let expected = [
            Candidate { address: "+14155550100", kind: CandidateKind::Phone, country: Some("US") },
            Candidate { address: "12345", kind: CandidateKind::ShortCode, country: Some("US") },
            Candidate { address: "MyBrand", kind: CandidateKind::Alpha, country: None },
        ];
        assert_eq!(candidates(&pool), expected);
    }

    #[test]
    fn a_channel_recipient_is_reached_from_the_same_channel_of_a_number() {
        assert_eq!(from_for("whatsapp:+14155550101", "+14155550100".into()), "whatsapp:+14155550100");
        assert_eq!(from_for("rcs:+14155550101", "+14155550100".into()), "rcs:+14155550100");
    }

    #[test]
    fn plain_recipients_and_non_numbers_keep_the_sender_as_chosen() {
        assert_eq!(from_for("+14155550101", "+14155550100".into()), "+14155550100");
        assert_eq!(from_for("whatsapp:+14155550101", "MyBrand".into()), "MyBrand");
    }

    #[test]
    fn bare_strips_the_channel_prefix() {
        assert_eq!(bare("whatsapp:+14155550100"), "+14155550100");
        assert_eq!(bare("+14155550100"), "+14155550100");
    }
}
