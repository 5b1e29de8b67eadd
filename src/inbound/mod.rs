//! Inbound messages: a handset texts one of the account's numbers.
//!
//! [`Inbound::receive`] stores the message (`receiving`), then — off the request path —
//! handles opt-out keywords ([`opt_outs`]), calls the number's (or its Messaging Service's)
//! webhook, signed, with Twilio's parameters, falls back to the fallback URL on failure, follows
//! `<Redirect>`, turns each TwiML `<Message>` into an `outbound-reply` message ([`webhook`]), and
//! marks the inbound message `received`. Every failure is recorded in the message's events with
//! Twilio's code (11200 webhook unreachable or not 2xx, 12100 TwiML not XML, 12200 TwiML schema,
//! 14101–14103 bad `<Message>` attributes); none stops the server. Carriers deliver inbound
//! traffic through the same [`Inbound::receive`].
//!
//! Inbound sits above delivery (its replies are dispatched) and below the API, which maps its
//! [`TwilioError`]s to responses.

pub mod opt_outs;
pub mod twiml;
pub mod webhook;

pub use opt_outs::OptOutReplies;
pub use webhook::HTTP_RETRIEVAL_FAILURE;

use crate::delivery::Dispatcher;
use crate::media::MediaFetcher;
use crate::outbound::client::{RequestSettings, WebhookClient};
use crate::store::tokens::AccountTokens;
use crate::store::{Store, Transition};
use std::sync::Arc;
use switchboard_domain::address;
use switchboard_domain::encoding;
use switchboard_domain::message::{Message, SendOptions, MAX_BODY_CHARS, MAX_MEDIA};
use switchboard_domain::routing::Keyword;
use switchboard_domain::sid::KeyGenerator;
use switchboard_domain::status::{Direction, Status};
use switchboard_domain::TwilioError;
use webhook::Hook;

/// An inbound SMS/MMS as a carrier (or the simulation endpoint) hands it over.
#[derive(Debug, Clone)]
pub struct InboundSms {
    /// The account whose number received it.
    pub account_sid: String,
    /// The handset.
    pub from: String,
    /// The account's number (or channel address).
    pub to: String,
    /// Text.
    pub body: String,
    /// Media URLs.
    pub media_urls: Vec<String>,
    /// `AddressRetention`: `obfuscate` hides the handset's last four digits once `received`,
    /// as Twilio's account-level redaction does for inbound messages.
    pub address_retention: Option<String>,
    /// `ContentRetention`: `discard` empties the body once `received`.
    pub content_retention: Option<String>,
    /// An error the carrier reported with it (30009: parts of a long message never came).
    pub error_code: Option<u32>,
}

/// Everything inbound processing needs.
pub struct Inbound {
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Account tokens (webhooks are signed with the account's).
    pub tokens: Arc<AccountTokens>,
    /// Sends the replies.
    pub dispatcher: Dispatcher,
    /// Calls the webhooks.
    pub client: WebhookClient,
    /// Message SIDs.
    pub keys: Arc<KeyGenerator>,
    /// Automatic replies to opt-out keywords.
    pub replies: OptOutReplies,
    /// Timeouts of webhook requests (one attempt unless the URL's fragment asks for more).
    pub settings: RequestSettings,
    /// Fetches and stores the media of inbound MMS.
    pub media: MediaFetcher,
    /// External base URL, without a trailing slash (the webhook's `MediaUrl{N}` point here).
    pub base_url: String,
}

/// A storage failure while receiving: logged with its cause; the caller sees a generic 500.
fn internal(e: anyhow::Error) -> TwilioError {
    tracing::error!(error = %format!("{e:#}"), "internal error");
    TwilioError::internal()
}

impl Inbound {
    /// Stores an inbound message and starts its processing; the message is returned as stored
    /// (`receiving`).
    pub async fn receive(self: &Arc<Self>, sms: InboundSms) -> Result<Message, TwilioError> {
        let from = address::parse_to(&sms.from).ok_or_else(|| {
            TwilioError::bad_request(21211, format!("The 'From' number {} is not a valid phone number.", sms.from))
        })?;
        let to = address::parse_from(&sms.to).ok_or_else(|| TwilioError::invalid_to(&sms.to))?;
        let to_bare = bare(&to.text).to_string();
        let number = self.store.phone_number_by_address(&sms.account_sid, &to_bare).await.map_err(internal)?;
        if number.is_none() && !self.store.owns_sender(&sms.account_sid, &to_bare).await.map_err(internal)? {
            return Err(TwilioError::bad_request(
                21606,
                format!("The 'To' number {} is not a phone number, short code or sender of this account", sms.to),
            ));
        }
        if sms.body.chars().count() > MAX_BODY_CHARS {
            return Err(TwilioError::body_too_long());
        }
        if sms.media_urls.len() > MAX_MEDIA {
            return Err(TwilioError::too_many_media(MAX_MEDIA));
        }
        let service = self.store.service_of_sender(&sms.account_sid, &to_bare).await.map_err(internal)?;
        let now = crate::clock::now_ms();
        let key = self.keys.next(now);
        let prefix = if sms.media_urls.is_empty() { "SM" } else { "MM" };
        // An inbound message counts its body's segments whatever its `To` (channels included).
        let segments = if sms.media_urls.is_empty() { encoding::segments(&sms.body).count } else { 1 };
        let message = Message::builder(format!("{prefix}{key}"), &sms.account_sid, &to.text, now)
            .messaging_service_sid(service.as_ref().map(|s| s.sid.clone()))
            .from(Some(from.text.clone()))
            .body(&sms.body)
            .status(Status::Receiving)
            .direction(Direction::Inbound)
            .num_segments(segments)
            .sent_at(now)
            .options(SendOptions {
                media_urls: sms.media_urls.clone(),
                address_retention: sms.address_retention.clone(),
                content_retention: sms.content_retention.clone(),
                ..Default::default()
            })
            .build();
        let message = match sms.error_code {
            Some(code) => {
                Message { error_code: Some(code), error_message: Some(TwilioError::delivery(code).message), ..message }
            }
            None => message,
        };
        self.store.insert_message(message.clone()).await.map_err(internal)?;
        crate::metrics::status_changed(Status::Receiving);

        let hook = Hook::of(service.as_ref(), number.as_ref());
        let this = self.clone();
        let stored = message.clone();
        tokio::spawn(async move { this.process(stored, hook, Keyword::parse(&sms.body)).await });
        Ok(message)
    }

    /// Finishes the inbound messages a restart interrupted (their webhook is called again:
    /// at least once, as for callbacks).
    pub async fn resume(self: &Arc<Self>) -> anyhow::Result<usize> {
        let pending = self.store.receiving_inbound().await?;
        self.adopt(pending).await
    }

    /// Finishes stored inbound messages still `receiving` (after a restart, or claimed from a
    /// node that is gone); returns how many.
    pub async fn adopt(self: &Arc<Self>, pending: Vec<Message>) -> anyhow::Result<usize> {
        let n = pending.len();
        for m in pending {
            let ours = bare(&m.to).to_string();
            let number = self.store.phone_number_by_address(&m.account_sid, &ours).await?;
            let service = self.store.service_of_sender(&m.account_sid, &ours).await?;
            let hook = Hook::of(service.as_ref(), number.as_ref());
            let keyword = Keyword::parse(&m.body);
            tokio::spawn(self.clone().process(m, hook, keyword));
        }
        Ok(n)
    }

    /// Everything after the 201: opt-outs, the webhook, TwiML replies, `received`.
    async fn process(self: Arc<Self>, m: Message, hook: Option<Hook>, keyword: Option<Keyword>) {
        self.record_opt_out(&m, keyword, crate::clock::now_ms()).await;
        let media = if m.options.media_urls.is_empty() { Vec::new() } else { self.media_params(&m).await };
        if let Some(hook) = hook {
            self.call_webhook(&m, &hook, keyword, &media).await;
        }
        if let Some(text) = keyword.and_then(|k| self.replies.to(k)) {
            let verb = twiml::MessageVerb { body: text.to_string(), ..Default::default() };
            // The confirmation of a STOP goes out although the handset just opted out.
            self.reply(&m, &verb, false).await;
        }
        let mut t = Transition::new(m.key(), Status::Receiving, Status::Received, crate::clock::now_ms());
        t.price = Some(format!("-{:.5}", 0.0079 * f64::from(m.num_segments.max(1))));
        // Privacy options apply once the webhook has had the real message.
        let kept = m.retained();
        if kept.from != m.from {
            t.from_addr = kept.from;
        }
        if kept.body != m.body {
            t.body = Some(kept.body);
        }
        if let Err(e) = self.store.apply_transitions(vec![t]).await {
            tracing::error!(error = %format!("{e:#}"), message = %m.sid, "inbound message not marked received");
        } else {
            crate::metrics::status_changed(Status::Received);
        }
    }

    async fn note(&self, m: &Message, code: u32, detail: String) {
        tracing::info!(message = %m.sid, code, %detail, "inbound webhook problem");
        if let Err(e) = self.store.add_message_note(m.key(), crate::clock::now_ms(), m.status, Some(code), detail).await
        {
            tracing::warn!(error = %format!("{e:#}"), "event not stored");
        }
    }

    /// Creates and sends one `outbound-reply` to an inbound message.
    async fn reply(&self, inbound: &Message, verb: &twiml::MessageVerb, honour_opt_out: bool) {
        let to_raw = verb.to.clone().unwrap_or_else(|| inbound.from.clone().unwrap_or_default());
        let from_raw = verb.from.clone().unwrap_or_else(|| inbound.to.clone());
        let Some(to) = address::parse_to(&to_raw) else {
            return self.note(inbound, 14101, format!("<Message to=\"{to_raw}\"> is not a valid address")).await;
        };
        let Some(from) = address::parse_from(&from_raw) else {
            return self.note(inbound, 14102, format!("<Message from=\"{from_raw}\"> is not a valid sender")).await;
        };
        if verb.body.chars().count() > MAX_BODY_CHARS || (verb.body.is_empty() && verb.media.is_empty()) {
            return self.note(inbound, 14103, "<Message> body is empty or longer than 1600 characters".into()).await;
        }
        if honour_opt_out {
            let mut scopes = vec![bare(&from.text).to_string()];
            scopes.extend(inbound.messaging_service_sid.clone());
            if self.store.opted_out(&inbound.account_sid, scopes, bare(&to.text)).await.unwrap_or(false) {
                return self.note(inbound, 21610, format!("reply to {} not sent: recipient opted out", to.text)).await;
            }
        }
        let now = crate::clock::now_ms();
        let key = self.keys.next(now);
        let prefix = if verb.media.is_empty() { "SM" } else { "MM" };
        let message = Message::builder(format!("{prefix}{key}"), &inbound.account_sid, &to.text, now)
            .from(Some(from.text.clone()))
            .body(&verb.body)
            .direction(Direction::OutboundReply)
            .options(SendOptions {
                status_callback: verb.action.clone().or_else(|| verb.status_callback.clone()),
                status_callback_method: verb.method.clone().map(|m| m.to_ascii_uppercase()),
                media_urls: verb.media.clone(),
                ..Default::default()
            })
            .build();
        match self.store.insert_message(message.clone()).await {
            Ok(()) => {
                crate::metrics::status_changed(Status::Queued);
                self.dispatcher.submit(message);
            }
            Err(e) => tracing::error!(error = %format!("{e:#}"), "reply not stored"),
        }
    }
}

/// `whatsapp:+1…` → `+1…`.
fn bare(a: &str) -> &str {
    a.rsplit(':').next().unwrap_or(a)
}
