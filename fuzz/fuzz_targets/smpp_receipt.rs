//! Delivery-receipt texts (`id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…`)
//! as carriers write them, in any case and order: parsed, mapped to a Twilio status, and their
//! ids and dates normalised.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::smpp::receipts;
use switchboard::smpp::settings::DlrIdMode;

fuzz_target!(|text: &str| {
    let _ = receipts::canonical(text);
    let _ = receipts::done_date_ms(text);
    if let Some(r) = receipts::parse_text(text) {
        let _ = r.verdict();
        for mode in [DlrIdMode::AsIs, DlrIdMode::RespHexDlrDec, DlrIdMode::RespDecDlrHex, DlrIdMode::Auto] {
            let _ = receipts::receipt_keys(mode, &r.id);
        }
        if let Some(date) = r.done_date.as_deref() {
            assert_eq!(date.len(), 10);
            let _ = receipts::done_date_ms(date);
        }
    }
});
