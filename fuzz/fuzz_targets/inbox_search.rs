//! The inbox's Messages search syntax (`to:` `from:` `status:` `direction:` `body:` `after:`
//! `before:` `date:`, quoted phrases, plain words).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::inbox::search;

fuzz_target!(|q: &str| {
    if let Ok(f) = search::parse(q) {
        // Every plain word is a non-empty body term.
        assert!(f.body_contains.iter().all(|w| !w.is_empty()), "{q:?}");
    }
});
