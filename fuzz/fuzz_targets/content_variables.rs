//! `ContentVariables` JSON, and rendering a template with it (the input's first line is the
//! template, the rest the variables).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_domain::content;

fuzz_target!(|s: &str| {
    let (template, json) = s.split_once('\n').unwrap_or((s, s));
    if let Some(values) = content::parse_variables(json) {
        let defaults = content::parse_variables("{\"1\":\"x\"}").unwrap_or_default();
        let _ = content::render(template, &defaults, &values);
    }
});
