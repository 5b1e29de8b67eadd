//! Switchboard: a self-hosted, Twilio-compatible Programmable Messaging server.
//!
//! Map (see `docs/ARCHITECTURE.md` for the full one):
//! - `crates/domain` — pure rules: SIDs, addresses, segments, statuses, Twilio errors;
//! - [`clock`] — the time every layer reads;
//! - [`config`] — command line, environment and TOML configuration;
//! - [`api`] — the HTTP surface: routing, auth, Twilio-shaped JSON and errors;
//! - [`outbound`] — the bounded HTTP client, address policy, request signature;
//! - [`store`] — the storage trait and its engines;
//! - [`media`] and [`callbacks`] — MMS media fetching, status callbacks from the outbox;
//! - [`delivery`] — the dispatcher and carriers (the built-in simulator);
//! - [`inbound`] — inbound messages: webhooks, TwiML replies, opt-outs;
//! - [`server`] — wiring: builds the state and serves until shutdown.

pub mod api;
pub mod backoff;
pub mod callbacks;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod inbound;
pub mod media;
pub mod metrics;
pub mod outbound;
pub mod server;
pub mod store;
