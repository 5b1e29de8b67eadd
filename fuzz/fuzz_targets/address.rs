//! `To`/`From` addresses: phone numbers, short codes, alphanumeric senders and channel
//! addresses (`whatsapp:+1…`, `messenger:…`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_domain::address;

fuzz_target!(|s: &str| {
    if let Some(to) = address::parse_to(s) {
        let _ = to.country();
    }
    let _ = address::parse_from(s);
    if let Some(e164) = address::parse_phone(s) {
        let _ = address::country_of(&e164);
    }
    let _ = address::obfuscate(s);
});
