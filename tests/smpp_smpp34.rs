//! The SMPP connector against an SMSC this project did not write: the `smpp34` crate's
//! `SmppServer`, in-process, on a loopback port. The server under test runs in-process too
//! (tests/common), with one connector pointed at it; each test has its own SMSC and server.
//!
//! The SMSC accepts every bind, records every `submit_sm`, answers each with the next scripted
//! error status for its destination (if any) or accepts it with a fresh id, and sends the
//! receipt (`deliver_sm`, esm_class 0x04, `stat:DELIVRD`, with the receipt TLVs) right after
//! the accepting response.

mod common;

use async_trait::async_trait;
use common::{Receiver, TestServer, SID_A};
use smpp34::server::ESME;
use smpp34::{
    bind_transceiver, bind_transceiver_resp, submit_sm, submit_sm_resp, SmppConnectionInformation, SmppError,
    SmppServer, SmppServerListener, Tlv, TlvTag,
};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard::smpp::SmppSettings;

/// One `submit_sm` as the SMSC decoded it.
#[derive(Debug, Clone)]
struct Submitted {
    source_addr: String,
    source_addr_ton: u8,
    destination_addr: String,
    dest_addr_ton: u8,
    esm_class: u8,
    data_coding: u8,
    registered_delivery: u8,
    short_message: Vec<u8>,
    /// What the SMSC answered: `None` accepted, else the error status.
    refused: Option<SmppError>,
}

/// The scripted SMSC's state, shared with the test.
#[derive(Default)]
struct Smsc {
    /// The bound ESME (our connector), to send `deliver_sm` through.
    esme: Mutex<Option<Arc<ESME>>>,
    submits: Mutex<Vec<Submitted>>,
    /// Error statuses to answer, in order, to the next submits to a destination.
    script: Mutex<HashMap<String, VecDeque<SmppError>>>,
    next_id: AtomicU64,
}

#[async_trait]
impl SmppServerListener for Smsc {
    async fn on_bind_transceiver(
        &self,
        req: bind_transceiver,
        _c: &SmppConnectionInformation,
        _s: &String,
    ) -> bind_transceiver_resp {
        if req.system_id == "switchboard" && req.password == "secret" {
            req.accept("smpp34".to_string(), Some(0x34))
        } else {
            req.reject(SmppError::ESME_RINVPASWD)
        }
    }

    async fn on_esme_bound(&self, esme: ESME, _s: &String) {
        *self.esme.lock().unwrap() = Some(Arc::new(esme));
    }

    async fn on_esme_unbound(&self, _s: &String) {
        *self.esme.lock().unwrap() = None;
    }

    async fn on_submit_sm(&self, req: submit_sm, _c: &SmppConnectionInformation, _s: &String) -> submit_sm_resp {
        let refused = self.script.lock().unwrap().get_mut(&req.destination_addr).and_then(VecDeque::pop_front);
        self.submits.lock().unwrap().push(Submitted {
            source_addr: req.source_addr.clone(),
            source_addr_ton: req.source_addr_ton,
            destination_addr: req.destination_addr.clone(),
            dest_addr_ton: req.dest_addr_ton,
            esm_class: req.esm_class,
            data_coding: req.data_coding,
            registered_delivery: req.registered_delivery,
            short_message: req.short_message.clone(),
            refused,
        });
        if let Some(status) = refused {
            return req.reject(status);
        }
        let id = format!("{:X}", 0x5B00_0000 + self.next_id.fetch_add(1, Ordering::Relaxed));
        if req.registered_delivery & 1 == 1 {
            let esme = self.esme.lock().unwrap().clone();
            let (from, to) = (req.destination_addr.clone(), req.source_addr.clone());
            let id = id.clone();
            tokio::spawn(async move {
                // Let the submit_sm_resp (queued when this callback returns) leave first.
                tokio::time::sleep(Duration::from_millis(5)).await;
                if let Some(esme) = esme {
                    let text = format!(
                        "id:{id} sub:001 dlvrd:001 submit date:2612021200 done date:2612021201 stat:DELIVRD err:000 text:"
                    );
                    let _ = esme
                        .deliver_sm()
                        .source_addr_ton(1)
                        .source_addr_npi(1)
                        .source_addr(from)
                        .destination_addr(to)
                        .esm_class(0x04)
                        .short_message(text.into_bytes())
                        .tlv(TlvTag::ReceiptedMessageId, format!("{id}\0").into_bytes())
                        .tlvs([Tlv::from_u8(TlvTag::MessageStateTlv, 2)])
                        .send()
                        .await;
                }
            });
        }
        req.accept(id)
    }
}

impl Smsc {
    fn refuse_next(&self, destination: &str, statuses: &[SmppError]) {
        self.script.lock().unwrap().entry(destination.to_string()).or_default().extend(statuses.iter().copied());
    }

    fn submits_to(&self, destination: &str) -> Vec<Submitted> {
        self.submits.lock().unwrap().iter().filter(|s| s.destination_addr == destination).cloned().collect()
    }

    async fn bound_esme(&self) -> Arc<ESME> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(esme) = self.esme.lock().unwrap().clone() {
                return esme;
            }
            assert!(Instant::now() < deadline, "the connector did not bind to the smpp34 SMSC");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The smpp34 SMSC on a free loopback port (it has no port-0 accessor: a listener on port 0
/// finds a free port, which the SMSC then binds), and a Switchboard whose one connector
/// (window 64) points at it.
async fn start() -> (Arc<Smsc>, SmppServer, TestServer) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let smsc = Arc::new(Smsc::default());
    let mut server = SmppServer::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port, smsc.clone());
    server.start().await;
    assert!(server.is_alive(), "the smpp34 SMSC did not start on port {port}");
    let url = format!("smpp://switchboard:secret@127.0.0.1:{port}?name=smpp34&window=64");
    let connector = SmppSettings::parse_url(&url).unwrap();
    let switchboard = TestServer::start_with(|cfg| cfg.smpp = vec![connector]).await;
    (smsc, server, switchboard)
}

async fn create(s: &TestServer, to: &str, body: &str, callback: Option<&str>) -> serde_json::Value {
    let mut form = vec![("To", to), ("From", "+14155550100"), ("Body", body)];
    if let Some(url) = callback {
        form.push(("StatusCallback", url));
    }
    let (status, json) = s.post(&TestServer::messages_path(SID_A), &form).await;
    assert_eq!(status, 201, "{json}");
    json
}

/// Polls a message until it has `status` (15 s at most: a throttled submit waits 1 s).
async fn wait_for(s: &TestServer, sid: &str, status: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (code, json) = s.get(&TestServer::message_path(SID_A, sid)).await;
        assert_eq!(code, 200, "{json}");
        if json["status"] == status {
            return json;
        }
        assert!(Instant::now() < deadline, "{sid} stuck in {} waiting for {status}: {json}", json["status"]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_goes_out_as_submit_sm_and_its_receipt_makes_it_delivered_with_callbacks_and_latency_metrics() {
    let (smsc, _smsc_server, s) = start().await;
    let receiver = Receiver::start(0, Duration::ZERO).await;
    let callback = format!("{}/status", receiver.url);
    let m = create(&s, "+14155552671", "Hello from the smpp34 test", Some(&callback)).await;
    let sid = m["sid"].as_str().unwrap();
    let got = receiver.wait_statuses(sid, &["sending", "sent", "delivered"]).await;
    assert_eq!(got[2].param("RawDlrDoneDate"), Some("2612021201"), "the receipt's done date, as the SMSC wrote it");
    let delivered = wait_for(&s, sid, "delivered").await;
    assert_eq!(delivered["num_segments"], "1");

    let submits = smsc.submits_to("14155552671");
    assert_eq!(submits.len(), 1, "{submits:?}");
    let pdu = &submits[0];
    assert_eq!((pdu.source_addr.as_str(), pdu.source_addr_ton), ("14155550100", 1), "E.164 without +, TON 1");
    assert_eq!(pdu.dest_addr_ton, 1);
    assert_eq!((pdu.data_coding, pdu.esm_class, pdu.registered_delivery), (0, 0, 1));
    assert_eq!(pdu.short_message, b"Hello from the smpp34 test");

    // The connector's latency histograms: to the submit_sm_resp and to the receipt.
    let metrics = s.http.get(format!("{}/metrics", s.url)).send().await.unwrap().text().await.unwrap();
    for needle in
        ["switchboard_smpp_submit_seconds_bucket{connector=", "switchboard_smpp_receipt_seconds_count{connector="]
    {
        assert!(metrics.contains(needle), "{needle} missing from /metrics");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_3_segment_gsm7_message_goes_out_as_3_submit_sm_with_one_8_bit_udh_reference_and_is_delivered() {
    let (smsc, _smsc_server, s) = start().await;
    // 153 + 153 + 94 GSM-7 characters: three segments as Twilio counts them.
    let body: String = "0123456789".repeat(40);
    let m = create(&s, "+14155552672", &body, None).await;
    assert_eq!(m["num_segments"], "3");
    wait_for(&s, m["sid"].as_str().unwrap(), "delivered").await;

    let submits = smsc.submits_to("14155552672");
    assert_eq!(submits.len(), 3, "{submits:?}");
    let reference = submits[0].short_message[3];
    let mut text = Vec::new();
    for (i, pdu) in submits.iter().enumerate() {
        assert_eq!(pdu.data_coding, 0, "GSM-7, data_coding 0");
        assert_eq!(pdu.esm_class & 0x40, 0x40, "UDHI set");
        let udh = &pdu.short_message[..6];
        assert_eq!(udh, [0x05, 0x00, 0x03, reference, 3, i as u8 + 1], "8-bit reference UDH of part {}", i + 1);
        let part = &pdu.short_message[6..];
        assert_eq!(part.len(), if i < 2 { 153 } else { 94 }, "split where Switchboard counts segments");
        text.extend_from_slice(part);
    }
    assert_eq!(text, body.as_bytes(), "unpacked GSM-7 digits are their ASCII codes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ucs2_message_goes_out_with_data_coding_8_in_utf16_and_is_delivered() {
    let (smsc, _smsc_server, s) = start().await;
    let body = "Привет 👋";
    let m = create(&s, "+14155552673", body, None).await;
    wait_for(&s, m["sid"].as_str().unwrap(), "delivered").await;

    let submits = smsc.submits_to("14155552673");
    assert_eq!(submits.len(), 1, "{submits:?}");
    assert_eq!((submits[0].data_coding, submits[0].esm_class), (8, 0));
    let utf16: Vec<u8> = body.encode_utf16().flat_map(u16::to_be_bytes).collect();
    assert_eq!(submits[0].short_message, utf16, "UTF-16BE, the emoji as one surrogate pair");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_destination_answer_fails_the_message_with_30005() {
    let (smsc, _smsc_server, s) = start().await;
    smsc.refuse_next("14155552674", &[SmppError::ESME_RINVDSTADR]);
    let m = create(&s, "+14155552674", "nobody there", None).await;
    let failed = wait_for(&s, m["sid"].as_str().unwrap(), "failed").await;
    assert_eq!(failed["error_code"], 30005, "{failed}");
    let submits = smsc.submits_to("14155552674");
    assert_eq!(submits.len(), 1, "a refusal is final: not sent again");
    assert_eq!(submits[0].refused, Some(SmppError::ESME_RINVDSTADR));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_submit_is_sent_again_without_failing_and_is_delivered() {
    let (smsc, _smsc_server, s) = start().await;
    smsc.refuse_next("14155552675", &[SmppError::ESME_RTHROTTLED]);
    let m = create(&s, "+14155552675", "slow down", None).await;
    let delivered = wait_for(&s, m["sid"].as_str().unwrap(), "delivered").await;
    assert!(delivered["error_code"].is_null(), "{delivered}");
    let submits = smsc.submits_to("14155552675");
    let answers: Vec<Option<SmppError>> = submits.iter().map(|s| s.refused).collect();
    assert_eq!(answers, [Some(SmppError::ESME_RTHROTTLED), None], "throttled once, then accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_deliver_sm_from_the_smsc_becomes_an_inbound_message_of_the_numbers_account() {
    let (smsc, _smsc_server, s) = start().await;
    let ours = "+14155550177";
    let (code, number) =
        s.post(&format!("/2010-04-01/Accounts/{SID_A}/IncomingPhoneNumbers.json"), &[("PhoneNumber", ours)]).await;
    assert_eq!(code, 201, "{number}");
    let esme = smsc.bound_esme().await;
    let resp = esme
        .deliver_sm()
        .source_addr_ton(1)
        .source_addr_npi(1)
        .source_addr("14155550123")
        .dest_addr_ton(1)
        .dest_addr_npi(1)
        .destination_addr("14155550177")
        .short_message(b"Hello from a handset".to_vec())
        .send()
        .await
        .expect("a deliver_sm_resp");
    assert_eq!(resp.command_status(), 0, "ESME_ROK once stored");

    let (code, list) = s.get(&format!("{}?To=%2B14155550177", TestServer::messages_path(SID_A))).await;
    assert_eq!(code, 200, "{list}");
    let inbound: Vec<&serde_json::Value> =
        list["messages"].as_array().unwrap().iter().filter(|m| m["direction"] == "inbound").collect();
    assert_eq!(inbound.len(), 1, "{list}");
    assert_eq!(inbound[0]["from"], "+14155550123");
    assert_eq!(inbound[0]["body"], "Hello from a handset");
}
