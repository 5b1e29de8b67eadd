//! `DateSent`, `DateSent<` and `DateSent>` values.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|value: &str| {
    let _ = switchboard_domain::datefilter::parse(value);
});
