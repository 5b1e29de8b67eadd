//! Inbound messages: a handset texts one of the account's numbers.
//!
//! [`Inbound::receive`] stores the message (`receiving`), then — off the request path —
//! handles opt-out keywords, calls the number's (or its Messaging Service's) webhook, signed,
//! with Twilio's parameters, falls back to the fallback URL on failure, follows `<Redirect>`,
//! turns each TwiML `<Message>` into an `outbound-reply` message, and marks the inbound message
//! `received`. Every failure is recorded in the message's events with Twilio's code (11200
//! webhook unreachable or not 2xx, 12100 TwiML not XML, 12200 TwiML schema, 14101–14103 bad
//! `<Message>` attributes); none stops the server. Carriers deliver inbound traffic through the
//! same [`Inbound::receive`].

pub mod twiml;

use crate::config::OptOutReplies;
use crate::delivery::Dispatcher;
use crate::outbound::client::{RequestSettings, WebhookClient};
use crate::outbound::{signature, target_and_body};
use crate::store::senders::{PhoneNumber, Service};
use crate::store::{Store, Transition};
use std::sync::Arc;
use switchboard_domain::address;
use switchboard_domain::encoding;
use switchboard_domain::message::{Message, SendOptions, API_VERSION, MAX_BODY_CHARS};
use switchboard_domain::routing::Keyword;
use switchboard_domain::sid::KeyGenerator;
use switchboard_domain::status::{Direction, Status};
use switchboard_domain::TwilioError;
use twiml::Verb;

/// Twilio's code for a webhook that could not be fetched (connection, timeout, non-2xx).
pub const HTTP_RETRIEVAL_FAILURE: u32 = 11200;
/// How many `<Redirect>`s one inbound message may follow.
const MAX_REDIRECTS: usize = 10;

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
}

/// Everything inbound processing needs.
pub struct Inbound {
    /// Persistence.
    pub store: Arc<dyn Store>,
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
    pub media: crate::media::MediaFetcher,
    /// External base URL, without a trailing slash (the webhook's `MediaUrl{N}` point here).
    pub base_url: String,
}

/// Where an inbound message's webhook goes.
#[derive(Debug, Clone, PartialEq)]
struct Hook {
    url: String,
    method: String,
    fallback: Option<(String, String)>,
}

impl Inbound {
    /// Stores an inbound message and starts its processing; the message is returned as stored
    /// (`receiving`).
    pub async fn receive(self: &Arc<Self>, sms: InboundSms) -> Result<Message, crate::api::error::ApiError> {
        let from = address::parse_to(&sms.from).ok_or_else(|| {
            TwilioError::bad_request(21211, format!("The 'From' number {} is not a valid phone number.", sms.from))
        })?;
        let to = address::parse_from(&sms.to).ok_or_else(|| TwilioError::invalid_to(&sms.to))?;
        let to_bare = bare(&to.text).to_string();
        let number = self.store.phone_number_by_address(&sms.account_sid, &to_bare).await?;
        if number.is_none() && !self.store.owns_sender(&sms.account_sid, &to_bare).await? {
            return Err(TwilioError::bad_request(
                21606,
                format!("The 'To' number {} is not a phone number, short code or sender of this account", sms.to),
            )
            .into());
        }
        if sms.body.chars().count() > MAX_BODY_CHARS {
            return Err(TwilioError::body_too_long().into());
        }
        if sms.media_urls.len() > switchboard_domain::message::MAX_MEDIA {
            return Err(TwilioError::too_many_media(switchboard_domain::message::MAX_MEDIA).into());
        }
        let service = self.store.service_of_sender(&sms.account_sid, &to_bare).await?;
        let now = crate::clock::now_ms();
        let key = self.keys.next(now);
        let prefix = if sms.media_urls.is_empty() { "SM" } else { "MM" };
        let message = Message {
            sid: format!("{prefix}{key}"),
            account_sid: sms.account_sid.clone(),
            messaging_service_sid: service.as_ref().map(|s| s.sid.clone()),
            from: Some(from.text.clone()),
            to: to.text.clone(),
            body: sms.body.clone(),
            status: Status::Receiving,
            direction: Direction::Inbound,
            num_segments: if sms.media_urls.is_empty() { encoding::segments(&sms.body).count } else { 1 },
            num_media: sms.media_urls.len() as u32,
            price: None,
            price_unit: "USD".into(),
            error_code: None,
            error_message: None,
            date_created: now,
            date_updated: now,
            date_sent: Some(now),
            carrier_id: None,
            options: SendOptions { media_urls: sms.media_urls.clone(), ..Default::default() },
        };
        self.store.insert_message(message.clone()).await?;
        crate::metrics::status_changed(Status::Receiving);

        let hook = Self::hook(service.as_ref(), number.as_ref());
        let this = self.clone();
        let stored = message.clone();
        tokio::spawn(async move { this.process(stored, hook, Keyword::parse(&sms.body)).await });
        Ok(message)
    }

    /// Which webhook an inbound message to this number (and its service) goes to.
    fn hook(service: Option<&Service>, number: Option<&PhoneNumber>) -> Option<Hook> {
        match (service, number) {
            (Some(s), n) if !s.use_inbound_webhook_on_number || n.is_none_or(|n| n.sms.url.is_none()) => {
                s.inbound_request_url.clone().map(|url| Hook {
                    url,
                    method: s.inbound_method.clone(),
                    fallback: s.fallback_url.clone().map(|u| (u, s.fallback_method.clone())),
                })
            }
            (_, Some(n)) => n.sms.url.clone().map(|url| Hook {
                url,
                method: n.sms.method.clone(),
                fallback: n.sms.fallback_url.clone().map(|u| (u, n.sms.fallback_method.clone())),
            }),
            _ => None,
        }
    }

    /// Finishes the inbound messages a restart interrupted (their webhook is called again:
    /// at least once, as for callbacks).
    pub async fn resume(self: &Arc<Self>) -> anyhow::Result<usize> {
        let pending = self.store.receiving_inbound().await?;
        let n = pending.len();
        for m in pending {
            let ours = bare(&m.to).to_string();
            let number = self.store.phone_number_by_address(&m.account_sid, &ours).await?;
            let service = self.store.service_of_sender(&m.account_sid, &ours).await?;
            let hook = Self::hook(service.as_ref(), number.as_ref());
            let keyword = Keyword::parse(&m.body);
            tokio::spawn(self.clone().process(m, hook, keyword));
        }
        Ok(n)
    }

    /// Everything after the 201: opt-outs, the webhook, TwiML replies, `received`.
    async fn process(self: Arc<Self>, m: Message, hook: Option<Hook>, keyword: Option<Keyword>) {
        let handset = bare(m.from.as_deref().unwrap_or_default()).to_string();
        let ours = bare(&m.to).to_string();
        let scope = m.messaging_service_sid.clone().unwrap_or_else(|| ours.clone());
        let now = crate::clock::now_ms();
        match keyword {
            Some(Keyword::Stop) => {
                self.note_err(self.store.set_opt_out(&m.account_sid, &scope, &handset, true, now).await)
            }
            Some(Keyword::Start) => {
                self.note_err(self.store.set_opt_out(&m.account_sid, &scope, &handset, false, now).await)
            }
            _ => {}
        }
        let media = if m.options.media_urls.is_empty() { Vec::new() } else { self.media_params(&m).await };
        if let Some(hook) = hook {
            self.call_webhook(&m, &hook, keyword, &media).await;
        }
        let auto = match keyword {
            Some(Keyword::Stop) => self.replies.stop.clone(),
            Some(Keyword::Start) => self.replies.start.clone(),
            Some(Keyword::Help) => self.replies.help.clone(),
            None => None,
        };
        if let Some(text) = auto {
            let verb = twiml::MessageVerb { body: text, ..Default::default() };
            // The confirmation of a STOP goes out although the handset just opted out.
            self.reply(&m, &verb, false).await;
        }
        let mut t = Transition::new(m.key(), Status::Receiving, Status::Received, crate::clock::now_ms());
        t.price = Some(format!("-{:.5}", 0.0079 * f64::from(m.num_segments.max(1))));
        if let Err(e) = self.store.apply_transitions(vec![t]).await {
            tracing::error!(error = %format!("{e:#}"), message = %m.sid, "inbound message not marked received");
        } else {
            crate::metrics::status_changed(Status::Received);
        }
    }

    fn note_err(&self, r: anyhow::Result<()>) {
        if let Err(e) = r {
            tracing::warn!(error = %format!("{e:#}"), "opt-out not stored");
        }
    }

    async fn note(&self, m: &Message, code: u32, detail: String) {
        tracing::info!(message = %m.sid, code, %detail, "inbound webhook problem");
        if let Err(e) = self.store.add_message_note(m.key(), crate::clock::now_ms(), m.status, Some(code), detail).await
        {
            tracing::warn!(error = %format!("{e:#}"), "event not stored");
        }
    }

    /// Stores the message's media and answers each one's Switchboard URL and content type; when
    /// fetching fails, the original URLs (with a type guessed from the extension) and a note.
    async fn media_params(&self, m: &Message) -> Vec<(String, String)> {
        match self.media.ensure_stored(self.store.as_ref(), m).await {
            Ok(stored) => stored
                .into_iter()
                .map(|x| {
                    let url = format!(
                        "{}/2010-04-01/Accounts/{}/Messages/{}/Media/{}",
                        self.base_url, m.account_sid, m.sid, x.sid
                    );
                    (url, x.content_type)
                })
                .collect(),
            Err((code, detail)) => {
                self.note(m, code, format!("media not stored: {detail}")).await;
                m.options.media_urls.iter().map(|u| (u.clone(), content_type_of(u).to_string())).collect()
            }
        }
    }

    /// The webhook's parameters (Twilio's "standard request properties" for messaging);
    /// `media` is each `MediaUrl{N}` with its `MediaContentType{N}`.
    fn params(m: &Message, keyword: Option<Keyword>, media: &[(String, String)]) -> Vec<(String, String)> {
        let from = m.from.clone().unwrap_or_default();
        let country = |a: &str| address::parse_to(a).and_then(|x| x.country()).unwrap_or_default();
        let mut p: Vec<(String, String)> = vec![
            ("AccountSid".into(), m.account_sid.clone()),
            ("ApiVersion".into(), API_VERSION.into()),
            ("Body".into(), m.body.clone()),
            ("From".into(), from.clone()),
            ("FromCity".into(), String::new()),
            ("FromCountry".into(), country(&from)),
            ("FromState".into(), String::new()),
            ("FromZip".into(), String::new()),
            ("MessageSid".into(), m.sid.clone()),
            ("NumMedia".into(), m.num_media.to_string()),
            ("NumSegments".into(), m.num_segments.to_string()),
            ("SmsMessageSid".into(), m.sid.clone()),
            ("SmsSid".into(), m.sid.clone()),
            ("SmsStatus".into(), "received".into()),
            ("To".into(), m.to.clone()),
            ("ToCity".into(), String::new()),
            ("ToCountry".into(), country(&m.to)),
            ("ToState".into(), String::new()),
            ("ToZip".into(), String::new()),
        ];
        if let Some(mss) = &m.messaging_service_sid {
            p.push(("MessagingServiceSid".into(), mss.clone()));
        }
        for (i, (url, content_type)) in media.iter().enumerate() {
            p.push((format!("MediaUrl{i}"), url.clone()));
            p.push((format!("MediaContentType{i}"), content_type.clone()));
        }
        if let Some(k) = keyword {
            p.push(("OptOutType".into(), k.as_str().into()));
        }
        p.sort();
        p
    }

    /// One signed request; `Ok(body)` on 2xx, else the reason.
    async fn fetch(&self, m: &Message, url: &str, method: &str, params: &[(String, String)]) -> Result<String, String> {
        let token = match self.store.account(&m.account_sid).await {
            Ok(Some(a)) => a.auth_token,
            _ => return Err("account not found".into()),
        };
        let (url, settings) = crate::outbound::client::split_overrides(url, &self.settings);
        let method = method.to_ascii_uppercase();
        let (target, body) = target_and_body(&method, &url, params);
        let headers = [("X-Twilio-Signature", signature::sign(&token, &target, &body))];
        let mut attempts = 0;
        loop {
            let a = self.client.send(&method, &target, &body, &headers, &settings).await;
            attempts += 1;
            if a.ok() {
                return Ok(String::from_utf8_lossy(&a.body).into_owned());
            }
            if !(a.retryable(&settings.retry_on) && attempts < settings.max_attempts) {
                let why = match (a.status, &a.error) {
                    (Some(s), _) => format!("{method} {url} answered HTTP {s}"),
                    (None, Some(e)) => format!("{method} {url} failed: {e}"),
                    (None, None) => format!("{method} {url} failed"),
                };
                return Err(why);
            }
        }
    }

    /// Calls the webhook (then its fallback), follows redirects, sends the replies.
    async fn call_webhook(&self, m: &Message, hook: &Hook, keyword: Option<Keyword>, media: &[(String, String)]) {
        let params = Self::params(m, keyword, media);
        let mut body = match self.fetch(m, &hook.url, &hook.method, &params).await {
            Ok(b) => b,
            Err(why) => {
                self.note(m, HTTP_RETRIEVAL_FAILURE, why).await;
                let Some((url, method)) = &hook.fallback else { return };
                match self.fetch(m, url, method, &params).await {
                    Ok(b) => b,
                    Err(why) => {
                        self.note(m, HTTP_RETRIEVAL_FAILURE, format!("fallback: {why}")).await;
                        return;
                    }
                }
            }
        };
        let mut base = hook.url.clone();
        for _ in 0..=MAX_REDIRECTS {
            if body.trim().is_empty() {
                return; // an empty answer means no reply
            }
            let verbs = match twiml::parse(&body) {
                Ok(v) => v,
                Err(e) => {
                    self.note(m, e.code, e.message).await;
                    return;
                }
            };
            let mut redirect = None;
            for verb in verbs {
                match verb {
                    Verb::Message(msg) => {
                        let stop_here = msg.action.is_some();
                        self.reply(m, &msg, true).await;
                        if stop_here {
                            // Twilio continues with the action's TwiML; later verbs are ignored.
                            return;
                        }
                    }
                    Verb::Redirect { url, method } => {
                        redirect = Some((resolve(&base, &url), method));
                        break; // verbs after <Redirect> are unreachable
                    }
                }
            }
            let Some((url, method)) = redirect else { return };
            body = match self.fetch(m, &url, &method, &params).await {
                Ok(b) => b,
                Err(why) => {
                    self.note(m, HTTP_RETRIEVAL_FAILURE, format!("redirect: {why}")).await;
                    return;
                }
            };
            base = url;
        }
        self.note(m, twiml::SCHEMA_VIOLATION, format!("more than {MAX_REDIRECTS} redirects")).await;
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
        let segments = switchboard_domain::message::num_segments(&to.text, &verb.body, !verb.media.is_empty());
        let message = Message {
            sid: format!("{prefix}{key}"),
            account_sid: inbound.account_sid.clone(),
            messaging_service_sid: None,
            from: Some(from.text.clone()),
            to: to.text.clone(),
            body: verb.body.clone(),
            status: Status::Queued,
            direction: Direction::OutboundReply,
            num_segments: segments,
            num_media: verb.media.len() as u32,
            price: None,
            price_unit: "USD".into(),
            error_code: None,
            error_message: None,
            date_created: now,
            date_updated: now,
            date_sent: None,
            carrier_id: None,
            options: SendOptions {
                status_callback: verb.action.clone().or_else(|| verb.status_callback.clone()),
                status_callback_method: verb.method.clone().map(|m| m.to_ascii_uppercase()),
                media_urls: verb.media.clone(),
                ..Default::default()
            },
        };
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

/// A `<Redirect>` URL may be relative to the document that contained it.
fn resolve(base: &str, target: &str) -> String {
    url::Url::parse(base).and_then(|b| b.join(target)).map(|u| u.to_string()).unwrap_or_else(|_| target.to_string())
}

/// A media content type from the URL's extension (stored media will know better).
fn content_type_of(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url).to_ascii_lowercase();
    match path.rsplit('.').next().unwrap_or("") {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        "pdf" => "application/pdf",
        "vcf" => "text/vcard",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_webhook_url() {
        assert_eq!(resolve("https://e.com/app/sms?x=1", "/next"), "https://e.com/next");
        assert_eq!(resolve("https://e.com/app/sms", "more"), "https://e.com/app/more");
        assert_eq!(resolve("https://e.com/app/sms", "https://o.com/z"), "https://o.com/z");
    }

    #[test]
    fn media_types_follow_the_extension() {
        assert_eq!(content_type_of("https://e.com/a.JPG?x=1"), "image/jpeg");
        assert_eq!(content_type_of("https://e.com/a"), "application/octet-stream");
    }
}
