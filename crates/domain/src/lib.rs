//! Switchboard's domain core: the rules of Twilio's Messages resource, with no I/O.
//!
//! Nothing in this crate touches the network, the disk or a clock it was not handed, so every
//! rule here is unit-tested in isolation. The server crate (`switchboard`) wires it to HTTP and
//! storage.
//!
//! | module | concept |
//! | --- | --- |
//! | [`sid`] | 34-character SIDs (`SM…`, `MM…`, `AC…`, `PA…`) and their time-ordered key |
//! | [`content`] | content templates: `{{variable}}` substitution |
//! | [`address`] | `To`/`From` addresses: E.164, short codes, alphanumeric IDs, channel prefixes |
//! | [`encoding`] | GSM-7 / UCS-2 detection, segment counting, smart encoding |
//! | [`status`] | message status and direction enums, and the lifecycle rules |
//! | [`error`] | Twilio's error catalogue: code, HTTP status, message |
//! | [`datefilter`] | the many date formats Twilio accepts in `DateSent` filters |
//! | [`message`] | the Message record and create-request validation |
//! | [`routing`] | Messaging Service sender selection, opt-out keywords |

pub mod address;
pub mod content;
pub mod datefilter;
pub mod encoding;
pub mod error;
pub mod links;
pub mod message;
pub mod routing;
pub mod sid;
pub mod status;

pub use error::TwilioError;
