//! Webhooks: signing, the bounded HTTP client, and (later) callbacks, inbound and TwiML.

pub mod callbacks;
pub mod client;
pub mod policy;
pub mod signature;
