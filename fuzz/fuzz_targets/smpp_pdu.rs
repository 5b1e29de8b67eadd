//! Bytes an SMSC sends on an SMPP link: framed and decoded by rusmpp's codec (as the connector
//! reads them), then every `deliver_sm` read as a receipt or an inbound message, and a receipt
//! mapped to its Twilio status, its lookup keys and its done date.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::Pdu;
use switchboard::smpp::receipts;
use switchboard::smpp::settings::DlrIdMode;
use switchboard::smpp::{read_deliver_sm, Delivered};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    let mut codec = CommandCodec::new();
    // A decode error ends the link in the connector; here it ends the input.
    while let Ok(Some(command)) = codec.decode(&mut buf) {
        let Some(Pdu::DeliverSm(d)) = command.pdu() else { continue };
        match read_deliver_sm(d) {
            Delivered::Receipt(r) => {
                let _ = r.verdict();
                for mode in [DlrIdMode::AsIs, DlrIdMode::RespHexDlrDec, DlrIdMode::RespDecDlrHex, DlrIdMode::Auto] {
                    let _ = receipts::receipt_keys(mode, &r.id);
                    let _ = receipts::resp_key(mode, &r.id);
                }
                if let Some(date) = r.done_date.as_deref() {
                    let _ = receipts::done_date_ms(date);
                }
            }
            Delivered::Message { part, .. } => {
                if let Some(p) = part {
                    assert!(p.total > 1 && p.seq >= 1 && p.seq <= p.total);
                }
            }
        }
    }
});
