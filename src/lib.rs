//! Switchboard: a self-hosted, Twilio-compatible Programmable Messaging server.
//!
//! Map, leaf first: a module uses only the ones before it (see `docs/ARCHITECTURE.md`):
//! - `crates/domain` — pure rules: SIDs, addresses, segments, statuses, Twilio errors;
//! - [`clock`], [`backoff`], [`metrics`] — time, retry waits, counters;
//! - [`outbound`] — the bounded HTTP client, address policy, request signature;
//! - [`store`] — the storage traits and their engines;
//! - [`media`] and [`callbacks`] — MMS media fetching, status callbacks from the outbox;
//! - [`delivery`] — the dispatcher and carriers (the built-in simulator); [`smpp`] — SMPP 3.4
//!   connectors to carriers' SMSCs, another kind of carrier;
//! - [`inbound`] — inbound messages: webhooks, TwiML replies, opt-outs;
//! - [`api`] — the HTTP surface: routing, auth, Twilio-shaped JSON and errors; [`cluster`] —
//!   this node's lease, taking over the work of nodes that are gone, peers' signals;
//! - [`config`] and [`server`] — settings; wiring that builds the state and serves until
//!   shutdown; [`tls`] (HTTPS serving) and [`proxy`] (the zero-code-change proxy and its local
//!   CA), which serve the router.

pub mod api;
pub mod backoff;
pub mod callbacks;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod delivery;
pub mod inbound;
pub mod inbox;
pub mod media;
pub mod metrics;
pub mod outbound;
pub mod proxy;
pub mod server;
pub mod smpp;
pub mod store;
pub mod tls;
