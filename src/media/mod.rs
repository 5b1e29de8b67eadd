//! MMS media, for delivery (outgoing MMS) and inbound messages alike: fetching a message's
//! `MediaUrl`s (through the bounded [`WebhookClient`], so timeouts and the address policy
//! apply) and storing the bytes as `ME…` Media resources.
//!
//! Limits follow Twilio's: 5 MB for the image types carriers transcode (`image/jpeg`,
//! `image/png`, `image/gif`), 500 KB for every other accepted type. Failures map to Twilio's
//! codes: 11200 (unreachable, timeout, refused by policy, or not 2xx), 12300 (a content type
//! that is missing or not accepted), 11751 (larger than its limit).

use crate::outbound::client::{RequestSettings, WebhookClient};
use crate::outbound::overrides::split_overrides;
use crate::outbound::Method;
use crate::store::{Media, Store};
use std::sync::Arc;
use switchboard_domain::message::Message;
use switchboard_domain::sid::KeyGenerator;

/// Largest image (`image/jpeg`, `image/png`, `image/gif`), bytes; the media client reads no more.
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;
/// Largest media of any other accepted type, bytes.
pub const MAX_OTHER_BYTES: usize = 500 * 1024;
/// Media URL unreachable, timed out, refused, or not 2xx.
pub const UNREACHABLE: u32 = 11200;
/// Media larger than its type's limit.
pub const TOO_LARGE: u32 = 11751;
/// Content type missing or not accepted.
pub const INVALID_CONTENT_TYPE: u32 = 12300;

/// Types accepted besides `image/*`, `audio/*` and `video/*` (Twilio's accepted MMS types).
const ACCEPTED_OTHER: &[&str] = &[
    "application/pdf",
    "application/vcard",
    "application/vnd.apple.pkpass",
    "text/vcard",
    "text/x-vcard",
    "text/csv",
    "text/rtf",
    "text/richtext",
    "text/calendar",
    "text/directory",
    "text/plain",
];

/// One fetched media item.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    /// Its MIME type, lower-case, without parameters.
    pub content_type: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The size limit of an accepted content type, or `None` when the type is not accepted.
pub fn limit_for(content_type: &str) -> Option<usize> {
    match content_type {
        "image/jpeg" | "image/jpg" | "image/png" | "image/gif" => Some(MAX_IMAGE_BYTES),
        t if t.starts_with("image/") || t.starts_with("audio/") || t.starts_with("video/") => Some(MAX_OTHER_BYTES),
        t if ACCEPTED_OTHER.contains(&t) => Some(MAX_OTHER_BYTES),
        _ => None,
    }
}

/// `Image/PNG; charset=x` → `image/png`.
fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// GETs every URL in order; the first failure stops and is returned as (Twilio code, detail).
pub async fn fetch_all(client: &WebhookClient, urls: &[String]) -> Result<Vec<Fetched>, (u32, String)> {
    let defaults = RequestSettings { max_attempts: 2, ..RequestSettings::default() };
    let mut out = Vec::with_capacity(urls.len());
    for raw in urls {
        let (url, settings) = split_overrides(raw, &defaults);
        let a = client.send_with_retries(Method::Get, &url, &[], &[], &settings).await;
        if !a.ok() {
            if a.status.is_some_and(|s| (200..300).contains(&s)) {
                // A 2xx whose body was cut at the client's limit.
                return Err((TOO_LARGE, format!("media {url} is larger than {MAX_IMAGE_BYTES} bytes")));
            }
            let why = match (a.status, &a.error) {
                (Some(s), _) => format!("GET {url} answered HTTP {s}"),
                (None, Some(e)) => format!("GET {url} failed: {e}"),
                (None, None) => format!("GET {url} failed"),
            };
            return Err((UNREACHABLE, why));
        }
        let content_type = essence(a.content_type.as_deref().unwrap_or(""));
        let Some(limit) = limit_for(&content_type) else {
            let shown = if content_type.is_empty() { "none" } else { &content_type };
            return Err((INVALID_CONTENT_TYPE, format!("media {url} has an unsupported content type ({shown})")));
        };
        if a.body.len() > limit {
            return Err((
                TOO_LARGE,
                format!("media {url} is {} bytes, over the {limit}-byte limit for {content_type}", a.body.len()),
            ));
        }
        out.push(Fetched { content_type, bytes: a.body });
    }
    Ok(out)
}

/// Fetches and stores media for messages. Cheap to clone.
#[derive(Clone)]
pub struct MediaFetcher {
    /// The media client (response bodies up to [`MAX_IMAGE_BYTES`]).
    pub client: WebhookClient,
    /// `ME…` SIDs, time-ordered.
    pub keys: Arc<KeyGenerator>,
}

impl MediaFetcher {
    /// The message's stored media, fetching and storing its `MediaUrl`s first when none are
    /// stored yet (a restart may hand the same message over twice).
    pub async fn ensure_stored(&self, store: &dyn Store, m: &Message) -> Result<Vec<Media>, (u32, String)> {
        let internal = |e: anyhow::Error| (UNREACHABLE, format!("media not stored: {e:#}"));
        let existing = store
            .list_media(&m.account_sid, &m.sid, (None, None), &crate::store::Cursor::Start, usize::MAX)
            .await
            .map_err(internal)?;
        if !existing.is_empty() || m.options.media_urls.is_empty() {
            return Ok(existing);
        }
        let fetched = fetch_all(&self.client, &m.options.media_urls).await?;
        let now = crate::clock::now_ms();
        let rows: Vec<(Media, Vec<u8>)> = fetched
            .into_iter()
            .map(|f| {
                let media = Media {
                    sid: format!("ME{}", self.keys.next(now)),
                    message_sid: m.sid.clone(),
                    account_sid: m.account_sid.clone(),
                    content_type: f.content_type,
                    size: f.bytes.len(),
                    date_created: now,
                    date_updated: now,
                };
                (media, f.bytes)
            })
            .collect();
        let media: Vec<Media> = rows.iter().map(|(m, _)| m.clone()).collect();
        store.insert_media(rows).await.map_err(internal)?;
        Ok(media)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_depend_on_the_type() {
        assert_eq!(limit_for("image/png"), Some(MAX_IMAGE_BYTES));
        assert_eq!(limit_for("image/bmp"), Some(MAX_OTHER_BYTES));
        assert_eq!(limit_for("application/pdf"), Some(MAX_OTHER_BYTES));
        assert_eq!(limit_for("video/mp4"), Some(MAX_OTHER_BYTES));
        assert_eq!(limit_for("application/x-msdownload"), None);
        assert_eq!(limit_for(""), None);
        assert_eq!(essence("Image/PNG; q=1"), "image/png");
    }
}
