//! Prometheus metrics: message status changes, queue depth per sender, callback attempts,
//! HTTP latency by route. Rendered by `GET /metrics`.

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use switchboard_domain::status::Status;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static REPORTED_SENDERS: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Installs the process-wide recorder once; later calls reuse it.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
            let builder = PrometheusBuilder::new().set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets);
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

/// A message entered `status` (created or transitioned).
pub fn status_changed(status: Status) {
    counter!("switchboard_message_status_changes_total", "status" => status.as_str()).increment(1);
}

/// One status-callback attempt finished.
pub fn callback_attempt(ok: bool, latency: Duration) {
    counter!("switchboard_callback_attempts_total").increment(1);
    if !ok {
        counter!("switchboard_callback_failures_total").increment(1);
    }
    histogram!("switchboard_callback_latency_seconds").record(latency.as_secs_f64());
}

/// A write was refused by load shedding (`reason`: `queue` or `wait`).
pub fn write_shed(reason: &'static str) {
    counter!("switchboard_writes_shed_total", "reason" => reason).increment(1);
}

/// Work (messages, callbacks) taken over from nodes that are gone.
pub fn work_taken_over(items: usize) {
    counter!("switchboard_work_taken_over_total").increment(items as u64);
}

/// One HTTP request finished.
pub fn http_request(route: &str, method: &str, status: u16, latency: Duration) {
    let (route, method) = (route.to_string(), method.to_string());
    histogram!("switchboard_http_request_duration_seconds", "route" => route.clone(), "method" => method.clone())
        .record(latency.as_secs_f64());
    counter!("switchboard_http_requests_total", "route" => route, "method" => method, "status" => status.to_string())
        .increment(1);
}

/// Publishes the segments waiting per sender; senders whose queue emptied drop to 0.
pub fn queue_depths(depths: &[(String, u64)]) {
    let Ok(mut guard) = REPORTED_SENDERS.lock() else { return };
    let reported = guard.get_or_insert_with(HashSet::new);
    let now: HashSet<String> = depths.iter().map(|(s, _)| s.clone()).collect();
    for gone in reported.difference(&now) {
        gauge!("switchboard_queue_depth_segments", "sender" => gone.clone()).set(0.0);
    }
    for (sender, depth) in depths {
        gauge!("switchboard_queue_depth_segments", "sender" => sender.clone()).set(*depth as f64);
    }
    *reported = now;
}
