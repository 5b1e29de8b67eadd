//! TwiML documents answered by inbound webhooks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|xml: &str| {
    let _ = switchboard::inbound::twiml::parse(xml);
});
