//! The inbound webhook: which URL an inbound message goes to, Twilio's parameters, the signed
//! request (then the fallback URL), and the TwiML answer with its `<Redirect>`s and replies.

use super::twiml::{self, Verb};
use super::Inbound;
use crate::outbound::client::Attempt;
use crate::outbound::overrides::split_overrides;
use crate::outbound::{signature, target_and_body, Method};
use crate::store::senders::{PhoneNumber, Service};
use switchboard_domain::address;
use switchboard_domain::message::{Message, API_VERSION};
use switchboard_domain::routing::Keyword;

/// Twilio's code for a webhook that could not be fetched (connection, timeout, non-2xx).
pub const HTTP_RETRIEVAL_FAILURE: u32 = 11200;
/// Characters of a webhook's answer kept in the message's history.
const WEBHOOK_NOTE_CHARS: usize = 4000;
/// How many `<Redirect>`s one inbound message may follow.
const MAX_REDIRECTS: usize = 10;

/// Where an inbound message's webhook goes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Hook {
    url: String,
    method: String,
    fallback: Option<(String, String)>,
}

impl Hook {
    /// Which webhook an inbound message to this number (and its service) goes to.
    pub(super) fn of(service: Option<&Service>, number: Option<&PhoneNumber>) -> Option<Hook> {
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
}

impl Inbound {
    /// Stores the message's media and answers each one's Switchboard URL and content type; when
    /// fetching fails, the original URLs (with a type guessed from the extension) and a note.
    pub(super) async fn media_params(&self, m: &Message) -> Vec<(String, String)> {
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
        let token = match self.tokens.token(&m.account_sid).await {
            Ok(Some(token)) => token,
            _ => return Err("account not found".into()),
        };
        let (url, settings) = split_overrides(url, &self.settings);
        let a = match Method::parse(method) {
            Ok(method) => {
                let (target, body) = target_and_body(method, &url, params);
                let headers = [("X-Twilio-Signature", signature::sign(&token, &target, &body))];
                self.client.send_with_retries(method, &target, &body, &headers, &settings).await
            }
            Err(refusal) => Attempt::unsupported_method(&refusal),
        };
        if a.ok() {
            let body = String::from_utf8_lossy(&a.body).into_owned();
            // The exchange goes into the message's history (the inbox shows it; Events.json too).
            let sent: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let excerpt: String = body.chars().take(WEBHOOK_NOTE_CHARS).collect();
            let detail = format!(
                "webhook {} {url} answered HTTP {} in {} ms\nrequest: {}\nresponse:\n{excerpt}",
                method.to_ascii_uppercase(),
                a.status.unwrap_or(200),
                a.latency.as_millis(),
                sent.join("&"),
            );
            if let Err(e) = self.store.add_message_note(m.key(), crate::clock::now_ms(), m.status, None, detail).await {
                tracing::warn!(error = %format!("{e:#}"), "webhook exchange not recorded");
            }
            return Ok(body);
        }
        let method = method.to_ascii_uppercase();
        Err(match (a.status, &a.error) {
            (Some(s), _) => format!("{method} {url} answered HTTP {s}"),
            (None, Some(e)) => format!("{method} {url} failed: {e}"),
            (None, None) => format!("{method} {url} failed"),
        })
    }

    /// Calls the webhook (then its fallback), follows redirects, sends the replies.
    pub(super) async fn call_webhook(
        &self,
        m: &Message,
        hook: &Hook,
        keyword: Option<Keyword>,
        media: &[(String, String)],
    ) {
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
