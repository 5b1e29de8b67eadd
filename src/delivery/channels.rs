//! Channel rules applied before submission: RCS falls back to SMS for devices without RCS,
//! WhatsApp's 24-hour customer-service window, and WhatsApp's caption rule.

use super::{assign, Inner};
use crate::store::Media;
use switchboard_domain::address::parse_phone;
use switchboard_domain::message::{num_segments, Message};
use switchboard_domain::status::Status;
use switchboard_domain::TwilioError;

/// WhatsApp's customer-service window: a freeform message (no template) may only go to a user
/// who wrote to the account within the last 24 hours.
const WHATSAPP_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// The message as it goes out when its recipient does not take RCS: `Ok(None)` when it goes as
/// it is, `Ok(Some(sms))` for its SMS form (noted on the message), 21612 when no SMS sender can
/// reach the recipient.
pub(super) async fn rcs_fallback(inner: &Inner, message: &Message) -> Result<Option<Message>, TwilioError> {
    if !message.to.starts_with("rcs:") || inner.carrier.rcs_capable(&message.account_sid, &message.to) {
        return Ok(None);
    }
    let Some(sms) = sms_form(inner, message).await else { return Err(TwilioError::no_rcs_fallback()) };
    let detail = format!(
        "{} does not take RCS: sent by SMS to {} from {}",
        message.to,
        sms.to,
        sms.from.as_deref().unwrap_or("")
    );
    let _ = inner.store.add_message_note(message.key(), crate::clock::now_ms(), Status::Sending, None, detail).await;
    Ok(Some(sms))
}

/// The SMS form of an RCS message whose recipient's device does not take RCS: the bare phone
/// number, from an SMS sender of its Messaging Service (or the phone number behind an
/// `rcs:+1…` sender). `None` when no SMS sender can reach the recipient.
async fn sms_form(inner: &Inner, m: &Message) -> Option<Message> {
    let to = m.to.strip_prefix("rcs:")?;
    parse_phone(to)?;
    let from = match &m.messaging_service_sid {
        Some(mss) => {
            let pool = inner.store.pool(mss).await.ok()?;
            assign::choose(inner, &pool, to, None, true)?
        }
        None => parse_phone(m.from.as_deref()?.strip_prefix("rcs:")?)?,
    };
    let segments = num_segments(to, &m.body, m.num_media > 0);
    Some(Message { to: to.to_string(), from: Some(from), num_segments: segments, ..m.clone() })
}

/// 63016 for a freeform WhatsApp message to a user who has not written in the last 24 hours.
/// When the store cannot tell, the message goes.
pub(super) async fn check_whatsapp_window(inner: &Inner, message: &Message) -> Result<(), TwilioError> {
    if !message.to.starts_with("whatsapp:") || message.options.content_sid.is_some() {
        return Ok(());
    }
    let since = crate::clock::now_ms() - WHATSAPP_WINDOW_MS;
    let in_window = inner.store.has_inbound_since(&message.account_sid, &message.to, since).await.unwrap_or(true);
    if in_window {
        Ok(())
    } else {
        Err(TwilioError::outside_whatsapp_window())
    }
}

/// The media item for which WhatsApp shows no text, so the message must go without its body;
/// `None` when the body goes (not WhatsApp, no body, or only captionable media).
pub(super) fn uncaptioned<'a>(to: &str, body: &str, media: &'a [Media]) -> Option<&'a Media> {
    if !to.starts_with("whatsapp:") || body.is_empty() {
        return None;
    }
    media.iter().find(|m| !whatsapp_caption_allowed(&m.content_type))
}

/// WhatsApp shows a message's text with images and video only: Twilio's accepted-types table
/// lists JPEG and PNG images as combinable with text on WhatsApp, and documents (PDF, vCard, …)
/// and audio carry no caption there, so their message goes without its body.
fn whatsapp_caption_allowed(content_type: &str) -> bool {
    let t = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    matches!(t.as_str(), "image/jpeg" | "image/jpg" | "image/png") || t.starts_with("video/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(content_type: &str) -> Media {
        Media {
            sid: "ME00000000000000000000000000000000".into(),
            message_sid: "MM00000000000000000000000000000000".into(),
            account_sid: "AC00000000000000000000000000000000".into(),
            content_type: content_type.into(),
            size: 1,
            date_created: 0,
            date_updated: 0,
        }
    }

    #[test]
    fn whatsapp_captions_jpeg_png_and_video_only() {
        for t in ["image/jpeg", "image/jpg", "image/png", "video/mp4", "Image/PNG; charset=x"] {
            assert!(whatsapp_caption_allowed(t), "{t}");
        }
        for t in ["image/gif", "application/pdf", "audio/ogg", "text/vcard", ""] {
            assert!(!whatsapp_caption_allowed(t), "{t}");
        }
    }

    #[test]
    fn a_whatsapp_document_makes_the_body_drop() {
        let items = [media("image/jpeg"), media("application/pdf")];
        let dropped = uncaptioned("whatsapp:+14155550100", "hello", &items).map(|m| m.content_type.as_str());
        assert_eq!(dropped, Some("application/pdf"));
    }

    #[test]
    fn the_body_stays_with_captionable_media_on_other_channels_or_when_empty() {
        let pdf = [media("application/pdf")];
        assert_eq!(uncaptioned("whatsapp:+14155550100", "hello", &[media("image/png")]), None);
        assert_eq!(uncaptioned("+14155550100", "hello", &pdf), None);
        assert_eq!(uncaptioned("whatsapp:+14155550100", "", &pdf), None);
    }
}
