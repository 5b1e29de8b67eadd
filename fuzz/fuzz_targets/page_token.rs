//! `PageToken` values (`PA<sid>`/`PB<sid>`), under one or several SID prefixes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|token: &str| {
    let _ = switchboard::api::paging::parse_token(token, &["SM", "MM"]);
    let _ = switchboard::api::paging::parse_token(token, &["PN"]);
});
