//! Connection-override fragments of callback URLs (`#ct=…&rt=…&tt=…&rc=…&rp=…`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::outbound::client::RequestSettings;

fuzz_target!(|url: &str| {
    let _ = switchboard::outbound::overrides::split_overrides(url, &RequestSettings::default());
});
