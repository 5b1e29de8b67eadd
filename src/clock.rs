//! Time, as the rest of the server reads it: one leaf module that every layer may call, so no
//! layer imports another just to learn the time.

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
