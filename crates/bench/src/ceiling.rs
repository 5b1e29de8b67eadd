//! The HTTP ceiling: the least a server can do for a create request on this machine.
//!
//! Same framework as Switchboard (axum on a multi-threaded tokio runtime with its default
//! worker count), same route, same form decoding into owned pairs; then, instead of
//! validating, storing and rendering, it answers 201 with a fixed JSON body of the size
//! Switchboard's answer has. Switchboard's throughput divided by this one is the share of
//! the machine's HTTP capacity that Switchboard keeps after doing its real work.
//!
//! It runs as a separate process (the bench binary re-executed with the hidden `ceiling`
//! subcommand) so it competes for the cores exactly as the real server does.

use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use std::io::Write;

/// Serves the ceiling on `listen` until killed; prints `… listening on http://ADDR`.
pub async fn serve(listen: &str, response_bytes: usize) -> anyhow::Result<()> {
    let body = Bytes::from(fixed_body(response_bytes));
    let app = Router::new().route(
        "/2010-04-01/Accounts/{account}/Messages.json",
        post(move |form: Bytes| {
            let body = body.clone();
            async move { create(&form, body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(listen).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "ceiling listening on http://{}", listener.local_addr()?)?;
        out.flush()?;
    }
    axum::serve(listener, app).await?;
    Ok(())
}

/// Decodes the form as Switchboard does (owned pairs) and answers the fixed body.
fn create(form: &[u8], body: Bytes) -> Response {
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(form).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    // Looking at the pairs keeps the decoding from being optimised away, and mirrors the
    // cheapest check a real handler makes.
    if !pairs.iter().any(|(k, v)| k == "To" && !v.is_empty()) {
        return (StatusCode::BAD_REQUEST, "To is required").into_response();
    }
    (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A JSON object of exactly `len` bytes (at least the bare skeleton's length).
pub fn fixed_body(len: usize) -> String {
    let head = r#"{"sid":"SM00000000000000000000000000000000","status":"queued","pad":""#;
    let tail = r#""}"#;
    let pad = len.saturating_sub(head.len() + tail.len());
    format!("{head}{}{tail}", "x".repeat(pad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_body_is_json_of_the_requested_size() {
        let body = fixed_body(729);
        assert_eq!(body.len(), 729);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "queued");
    }

    #[test]
    fn a_form_without_to_is_refused() {
        assert_eq!(create(b"From=%2B1&Body=x", Bytes::new()).status(), StatusCode::BAD_REQUEST);
        assert_eq!(create(b"To=%2B14155552671&Body=x", Bytes::new()).status(), StatusCode::CREATED);
    }
}
