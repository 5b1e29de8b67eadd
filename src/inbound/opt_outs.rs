//! Opt-out keywords in inbound messages: STOP and START change whether the handset hears from
//! the number (or its Messaging Service), and STOP, START and HELP get an automatic reply.

use super::Inbound;
use switchboard_domain::message::Message;
use switchboard_domain::routing::Keyword;

/// Twilio's default reply to STOP.
pub const DEFAULT_STOP_REPLY: &str = "You have successfully been unsubscribed. You will not receive any more messages from this number. Reply START to resubscribe.";
/// Twilio's default reply to START.
pub const DEFAULT_START_REPLY: &str = "You have successfully been re-subscribed to messages from this number. Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.";
/// Twilio's default reply to HELP.
pub const DEFAULT_HELP_REPLY: &str = "Reply STOP to unsubscribe. Msg&Data Rates May Apply.";

/// Automatic replies to opt-out keywords; `None` sends nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOutReplies {
    /// Reply to STOP.
    pub stop: Option<String>,
    /// Reply to START.
    pub start: Option<String>,
    /// Reply to HELP.
    pub help: Option<String>,
}

impl OptOutReplies {
    /// The automatic reply to `keyword`, if one is configured.
    pub fn to(&self, keyword: Keyword) -> Option<&str> {
        match keyword {
            Keyword::Stop => self.stop.as_deref(),
            Keyword::Start => self.start.as_deref(),
            Keyword::Help => self.help.as_deref(),
        }
    }
}

impl Inbound {
    /// Records a STOP or START of the message's handset, scoped to its Messaging Service (or,
    /// without one, to the number it was sent to).
    pub(super) async fn record_opt_out(&self, m: &Message, keyword: Option<Keyword>, now_ms: i64) {
        let opted_out = match keyword {
            Some(Keyword::Stop) => true,
            Some(Keyword::Start) => false,
            Some(Keyword::Help) | None => return,
        };
        let handset = super::bare(m.from.as_deref().unwrap_or_default());
        let scope = m.messaging_service_sid.clone().unwrap_or_else(|| super::bare(&m.to).to_string());
        if let Err(e) = self.store.set_opt_out(&m.account_sid, &scope, handset, opted_out, now_ms).await {
            tracing::warn!(error = %format!("{e:#}"), "opt-out not stored");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_keyword_gets_its_own_reply_and_none_when_unset() {
        let replies = OptOutReplies { stop: Some("bye".into()), start: None, help: Some("help".into()) };
        assert_eq!(replies.to(Keyword::Stop), Some("bye"));
        assert_eq!(replies.to(Keyword::Start), None);
        assert_eq!(replies.to(Keyword::Help), Some("help"));
    }
}
