//! Form bodies and query strings, repeated keys included: decoding, then the paging and date
//! parameters read from them, as every list request does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::api::{form, paging::PageRequest};

fuzz_target!(|data: &[u8]| {
    let pairs = form::decode(data);
    let _ = PageRequest::parse(&pairs, &["SM", "MM"]);
    for name in ["DateSent", "DateSent<", "DateSent>", "To", "From", "Body"] {
        if let Some(v) = form::last(&pairs, name) {
            let _ = switchboard_domain::datefilter::parse(v);
        }
    }
});
