//! The JSON body of a Content API create (`POST /v1/Content`: `types`, `variables`), then
//! rendering what was accepted with its own default variables, as a message from it would be.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::api::content;
use switchboard_domain::content::parse_variables;

fuzz_target!(|data: &[u8]| {
    let Ok(t) = content::parse_create(data) else { return };
    // What the create accepts is stored; what is stored must read back as the renderer needs it.
    let values = parse_variables(&t.variables).expect("accepted variables read back as a JSON object of strings");
    let _ = content::render_template(&t.types, &t.variables, &values);
});
