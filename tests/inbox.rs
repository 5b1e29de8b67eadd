//! The web inbox against the real server: sign-in, security headers, escaping, account
//! scoping, search and keyset pages, compose as handset, simulator rules.

mod common;

use common::*;

/// GETs an inbox page as `sid`; answers the status, headers and HTML.
async fn page_as(s: &TestServer, sid: &str, token: &str, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = s.http.get(format!("{}{path}", s.url)).basic_auth(sid, Some(token)).send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, headers, resp.text().await.unwrap())
}

async fn page(s: &TestServer, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    page_as(s, SID_A, TOKEN_A, path).await
}

/// POSTs an inbox form as account A from the inbox's own origin; no redirect following.
async fn post_form(s: &TestServer, path: &str, form: &[(&str, &str)], origin: Option<&str>) -> reqwest::Response {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut req = client
        .post(format!("{}{path}", s.url))
        .basic_auth(SID_A, Some(TOKEN_A))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencode(form));
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn every_page_asks_for_the_api_credentials_and_sends_a_strict_policy() {
    let s = TestServer::start().await;
    for path in ["/", "/messages", "/compose", "/simulator", "/thread?ours=%2B1&theirs=%2B2"] {
        let resp = s.http.get(format!("{}{path}", s.url)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{path}");
        assert!(resp.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"), "{path}");
        let wrong = page_as(&s, SID_A, "wrong", path).await;
        assert_eq!(wrong.0, 401, "{path}");
        let (status, headers, html) = page(&s, path).await;
        assert_eq!(status, 200, "{path}: {html}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"), "{csp}");
        assert!(!html.contains("<script>"), "no inline script on {path}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
}

#[tokio::test]
async fn assets_are_served_under_a_versioned_immutable_path_and_stay_small() {
    let s = TestServer::start().await;
    let (_, _, html) = page(&s, "/").await;
    let start = html.find("/static/").unwrap();
    let end = start + html[start..].find("/app.css").unwrap();
    let folder = &html[start..end];
    let mut total = 0;
    for file in ["app.css", "app.js"] {
        let resp = s.http.get(format!("{}{folder}/{file}", s.url)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{file}");
        assert!(resp.headers()["cache-control"].to_str().unwrap().contains("immutable"));
        total += resp.bytes().await.unwrap().len();
    }
    assert!(total < 60_000, "assets are {total} bytes");
    let stale = s.http.get(format!("{}/static/0000000000000000/app.js", s.url)).send().await.unwrap();
    assert_eq!(stale.status().as_u16(), 404);
}

#[tokio::test]
async fn message_text_is_escaped_everywhere_it_is_shown() {
    let s = TestServer::start().await;
    let m = s.create("+14155552671", "<script>alert('x')</script><img src=x onerror=alert(1)>").await;
    let sid = m["sid"].as_str().unwrap();
    let thread = "/thread?ours=%2B14155550100&theirs=%2B14155552671";
    for path in ["/".to_string(), "/messages".to_string(), format!("/messages/{sid}"), thread.to_string()] {
        let (status, _, html) = page(&s, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!html.contains("<script>alert") && !html.contains("<img src=x"), "{path} renders markup: {html}");
        assert!(html.contains("&lt;script&gt;") || html.contains("&lt;"), "{path} lost the body");
    }
}

#[tokio::test]
async fn the_detail_page_shows_fields_segments_timeline_and_callback_attempts() {
    let s = TestServer::start().await;
    let hook = Receiver::start(1, std::time::Duration::ZERO).await;
    let (_, m) = s
        .post(
            &TestServer::messages_path(SID_A),
            &[
                ("To", "+14155552671"),
                ("From", "+14155550100"),
                ("Body", "smart “quotes” 😀"),
                ("StatusCallback", &format!("{}/flaky", hook.url)),
            ],
        )
        .await;
    let sid = m["sid"].as_str().unwrap();
    s.wait_for_status(sid, "delivered").await;
    // The first callback attempt fails (500), the retry succeeds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let html = loop {
        let (_, _, html) = page(&s, &format!("/messages/{sid}")).await;
        if html.contains("HTTP 500") && html.matches("HTTP 200").count() >= 2 || std::time::Instant::now() > deadline {
            break html;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(html.contains("UCS-2"), "{html}");
    assert!(html.contains("class=\"ch ucs2\""), "the emoji and curly quotes are highlighted");
    assert!(html.contains("HTTP 500") && html.contains("HTTP 200"), "{html}");
    assert!(html.contains("X-Twilio-Signature"));
    for status in ["queued", "sending", "sent", "delivered"] {
        assert!(html.contains(&format!("<strong>{status}</strong>")), "{status} missing from the timeline");
    }
    assert!(html.contains(&format!("/Messages/{sid}.json")), "raw JSON and fields");
}

#[tokio::test]
async fn one_account_never_sees_another_accounts_messages() {
    let s = TestServer::start().await;
    let m = s.create("+14155552671", "only for A").await;
    let sid = m["sid"].as_str().unwrap();
    let (status, _, _) = page_as(&s, SID_B, TOKEN_B, &format!("/messages/{sid}")).await;
    assert_eq!(status, 404);
    for path in ["/", "/messages", "/thread?ours=%2B14155550100&theirs=%2B14155552671"] {
        let (_, _, html) = page_as(&s, SID_B, TOKEN_B, path).await;
        assert!(!html.contains("only for A") && !html.contains(sid), "{path}");
    }
}

#[tokio::test]
async fn the_search_syntax_filters_and_keyset_pages_walk_newest_first() {
    let s = TestServer::start().await;
    for i in 0..55 {
        s.create("+14155552671", &format!("bulk {i:02}")).await;
    }
    s.create("+14155552672", "your code is 4242").await;
    let (_, _, html) = page(&s, "/messages?q=to%3A%2B14155552672+body%3Acode").await;
    assert_eq!(html.matches("data-testid=\"message-row\"").count(), 1, "{html}");
    let (_, _, html) = page(&s, "/messages?q=status%3Adelivered+direction%3Ainbound").await;
    assert_eq!(html.matches("data-testid=\"message-row\"").count(), 0);
    let (_, _, html) = page(&s, "/messages?q=status%3Alost").await;
    assert!(html.contains("role=\"alert\"") && html.contains("lost"));

    let (_, _, first) = page(&s, "/messages?q=bulk").await;
    assert_eq!(first.matches("data-testid=\"message-row\"").count(), 50);
    assert!(first.contains("bulk 54") && !first.contains("bulk 04"), "newest first");
    let older = first.split("rel=\"next\" href=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    let (_, _, second) = page(&s, &older).await;
    assert_eq!(second.matches("data-testid=\"message-row\"").count(), 5);
    assert!(second.contains("bulk 04") && second.contains("bulk 00") && second.contains("rel=\"prev\""));
    let newer = second.split("rel=\"prev\" href=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    let (_, _, back) = page(&s, &newer).await;
    assert_eq!(back.matches("data-testid=\"message-row\"").count(), 50);
    assert!(back.contains("bulk 05") && back.contains("bulk 54"));
}

#[tokio::test]
async fn compose_sends_an_inbound_message_and_opens_its_thread() {
    let s = TestServer::start().await;
    let (code, n) = s
        .post(&format!("/2010-04-01/Accounts/{SID_A}/IncomingPhoneNumbers.json"), &[("PhoneNumber", "+14155550100")])
        .await;
    assert_eq!(code, 201, "{n}");
    let origin = s.url.clone();
    let form = [("From", "+15555550123"), ("To", "+14155550100"), ("Body", "hello from the handset")];
    let resp = post_form(&s, "/compose", &form, Some(&origin)).await;
    assert_eq!(resp.status().as_u16(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/thread?"), "{location}");
    let (_, _, html) = page(&s, &location).await;
    assert!(html.contains("hello from the handset") && html.contains("data-direction=\"inbound\""), "{html}");
    let resp =
        post_form(&s, "/compose", &[("From", "+15555550123"), ("To", "+14155550100"), ("Keyword", "STOP")], None).await;
    assert_eq!(resp.status().as_u16(), 303);
    let (_, page_json) = s.get(&format!("{}?From=%2B15555550123", TestServer::messages_path(SID_A))).await;
    let bodies: Vec<&str> =
        page_json["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert!(bodies.contains(&"STOP"), "{bodies:?}");
    let resp = post_form(&s, "/compose", &[("From", ""), ("To", "+14155550100")], Some(&origin)).await;
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.text().await.unwrap().contains("role=\"alert\""));
}

#[tokio::test]
async fn cross_site_form_posts_are_refused() {
    let s = TestServer::start().await;
    let form = [("From", "+15555550123"), ("To", "+14155550100"), ("Body", "forged")];
    let resp = post_form(&s, "/compose", &form, Some("http://evil.example")).await;
    assert_eq!(resp.status().as_u16(), 403);
    let (_, page_json) = s.get(&TestServer::messages_path(SID_A)).await;
    assert_eq!(page_json["messages"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn simulator_rules_are_added_counted_and_removed_from_the_inbox() {
    let s = TestServer::start().await;
    let resp =
        post_form(&s, "/simulator/rules", &[("To", "+1555*"), ("Outcome", "failed"), ("ErrorCode", "30003")], None)
            .await;
    assert_eq!(resp.status().as_u16(), 303);
    let m = s.create("+15551234567", "doomed").await;
    s.wait_for_status(m["sid"].as_str().unwrap(), "failed").await;
    let (_, _, html) = page(&s, "/simulator").await;
    assert_eq!(html.matches("data-testid=\"rule-row\"").count(), 1);
    assert!(html.contains("data-testid=\"rule-hits\">1<"), "{html}");
    let (_, _, detail) = page(&s, &format!("/messages/{}", m["sid"].as_str().unwrap())).await;
    assert!(detail.contains("Error 30003") && detail.contains("twilio.com/docs/errors/30003"));
    let bad = post_form(&s, "/simulator/rules", &[("Outcome", "exploded")], None).await;
    assert_eq!(bad.status().as_u16(), 400);
    let resp = post_form(&s, "/simulator/rules/0/delete", &[], None).await;
    assert_eq!(resp.status().as_u16(), 303);
    let (_, _, html) = page(&s, "/simulator").await;
    assert_eq!(html.matches("data-testid=\"rule-row\"").count(), 0);
}

/// A local media server: a PNG and an SVG (an image type that can carry script).
async fn media_server() -> (String, Vec<u8>) {
    use axum::http::header::CONTENT_TYPE;
    use axum::routing::get;
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..500u32).map(|i| (i * 7 % 251) as u8));
    let served = png.clone();
    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    let app = axum::Router::new()
        .route("/pic.png", get(move || async move { ([(CONTENT_TYPE, "image/png")], served.clone()) }))
        .route("/pic.svg", get(move || async move { ([(CONTENT_TYPE, "image/svg+xml")], svg) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, png)
}

#[tokio::test]
async fn the_message_page_previews_stored_images_from_our_own_urls_and_offers_other_media_as_downloads() {
    let s = TestServer::start().await;
    let (media, png) = media_server().await;
    let form = serde_urlencode(&[
        ("To", "+14155552671"),
        ("From", "+14155550100"),
        ("Body", "look"),
        ("MediaUrl", &format!("{media}/pic.png")),
        ("MediaUrl", &format!("{media}/pic.svg")),
    ]);
    let created: serde_json::Value = s
        .http
        .post(format!("{}{}", s.url, TestServer::messages_path(SID_A)))
        .basic_auth(SID_A, Some(TOKEN_A))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sid = created["sid"].as_str().expect("created").to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let items = loop {
        let (_, list) = s.get(&format!("/2010-04-01/Accounts/{SID_A}/Messages/{sid}/Media.json")).await;
        let items = list["media_list"].as_array().cloned().unwrap_or_default();
        if items.len() == 2 {
            break items;
        }
        assert!(std::time::Instant::now() < deadline, "media never stored: {list}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let me =
        |ct: &str| items.iter().find(|i| i["content_type"] == ct).and_then(|i| i["sid"].as_str()).unwrap().to_string();
    let (png_sid, svg_sid) = (me("image/png"), me("image/svg+xml"));

    let (status, headers, html) = page(&s, &format!("/messages/{sid}")).await;
    assert_eq!(status, 200);
    assert!(headers["content-security-policy"].to_str().unwrap().contains("img-src 'self'"));
    let png_href = format!("/messages/{sid}/media/{png_sid}");
    let svg_href = format!("/messages/{sid}/media/{svg_sid}");
    assert!(html.contains(&format!(r#"<img src="{png_href}""#)), "the PNG is previewed from our own URL: {html}");
    assert!(!html.contains(&format!(r#"<img src="{svg_href}""#)), "the SVG is not shown as an image");
    assert!(html.contains(&format!(r#"<a href="{svg_href}" download"#)), "the SVG is a download");
    assert!(!html.contains(&format!("src=\"{media}")), "nothing is loaded from the media's origin");

    let (status, headers, _) = page(&s, &png_href).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["content-security-policy"], "default-src 'none'; sandbox");
    let bytes =
        s.http.get(format!("{}{png_href}", s.url)).basic_auth(SID_A, Some(TOKEN_A)).send().await.unwrap().bytes().await;
    assert_eq!(bytes.unwrap().to_vec(), png);
    let (status, headers, _) = page(&s, &svg_href).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(headers["x-content-type-options"], "nosniff");

    // Another account, or no credentials: nothing.
    assert_eq!(page_as(&s, SID_B, TOKEN_B, &png_href).await.0, 404);
    assert_eq!(s.http.get(format!("{}{png_href}", s.url)).send().await.unwrap().status(), 401);
    assert_eq!(page(&s, &format!("/messages/{sid}/media/MEnot")).await.0, 404);
}

/// A client that keeps no cookies and follows no redirects: each test sends its cookies itself.
fn bare() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Signs in with the form; answers the response and the `sb_session=…` pair when one was set.
async fn sign_in(s: &TestServer, user: &str, secret: &str) -> (reqwest::Response, Option<String>) {
    let resp = bare()
        .post(format!("{}/signin", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", s.url.clone())
        .body(serde_urlencode(&[("user", user), ("secret", secret)]))
        .send()
        .await
        .unwrap();
    let pair = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sb_session=") && !v.starts_with("sb_session=;"))
        .map(|v| v.split(';').next().unwrap().to_string());
    (resp, pair)
}

async fn get_with_cookie(s: &TestServer, cookie: &str, path: &str) -> (u16, String) {
    let resp = bare().get(format!("{}{path}", s.url)).header("cookie", cookie).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn the_signin_form_sets_a_strict_http_only_session_cookie_that_opens_every_inbox_page() {
    let s = TestServer::start().await;
    s.create("+14155552671", "hello from the form").await;
    let form = bare().get(format!("{}/signin", s.url)).send().await.unwrap();
    assert_eq!(form.status().as_u16(), 200);
    let html = form.text().await.unwrap();
    assert!(html.contains(r#"<label for="user">"#) && html.contains(r#"<label for="secret">"#), "{html}");

    let (resp, cookie) = sign_in(&s, SID_A, TOKEN_A).await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/");
    let set = resp.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect::<Vec<_>>();
    let session = set.iter().find(|v| v.starts_with("sb_session=")).unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(session.contains(attr), "{session} lacks {attr}");
    }
    assert!(!session.contains("Secure"), "plain HTTP: no Secure attribute ({session})");
    let cookie = cookie.unwrap();
    assert_eq!(cookie.len(), "sb_session=".len() + 64, "a 256-bit random id");
    for path in ["/", "/messages", "/compose", "/simulator", "/thread?ours=%2B14155550100&theirs=%2B14155552671"] {
        let (status, html) = get_with_cookie(&s, &cookie, path).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert!(html.contains("Sign out"), "{path}");
    }
    let (_, html) = get_with_cookie(&s, &cookie, "/messages").await;
    assert!(html.contains("hello from the form"));
    // The inbox's live stream answers with the cookie (headers only: the stream stays open).
    let events = bare().get(format!("{}/events", s.url)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(events.status().as_u16(), 200);
    assert!(events.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
}

#[tokio::test]
async fn the_session_cookie_never_authenticates_the_rest_api() {
    let s = TestServer::start().await;
    let (_, cookie) = sign_in(&s, SID_A, TOKEN_A).await;
    let cookie = cookie.unwrap();
    for path in [
        TestServer::messages_path(SID_A),
        format!("/2010-04-01/Accounts/{SID_A}.json"),
        format!("/_switchboard/Accounts/{SID_A}/Stream"),
    ] {
        let resp = bare().get(format!("{}{path}", s.url)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{path}");
    }
    let resp = bare()
        .post(format!("{}{}", s.url, TestServer::messages_path(SID_A)))
        .header("cookie", &cookie)
        .header("origin", s.url.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencode(&[("To", "+14155552671"), ("From", "+14155550100"), ("Body", "x")]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test]
async fn wrong_credentials_get_the_form_again_and_no_cookie() {
    let s = TestServer::start().await;
    for (user, secret) in [(SID_A, "wrong"), (SID_B, TOKEN_A), ("AC00000000000000000000000000000000", "x"), ("", "")] {
        let (resp, cookie) = sign_in(&s, user, secret).await;
        assert_eq!(resp.status().as_u16(), 401, "{user}");
        assert!(cookie.is_none(), "{user}");
        assert!(resp.text().await.unwrap().contains("not valid"));
    }
    // A made-up session id opens nothing; a browser without credentials gets the form.
    let resp = bare()
        .get(format!("{}/messages", s.url))
        .header("cookie", format!("sb_session={}", "0".repeat(64)))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    assert!(resp.text().await.unwrap().contains(r#"action="/signin""#));
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let s = TestServer::start().await;
    let (_, cookie) = sign_in(&s, SID_A, TOKEN_A).await;
    let cookie = cookie.unwrap();
    let out = bare()
        .post(format!("{}/signout", s.url))
        .header("cookie", &cookie)
        .header("origin", s.url.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 303);
    let cleared = out.headers().get_all("set-cookie").iter().any(|v| {
        let v = v.to_str().unwrap();
        v.starts_with("sb_session=;") && v.contains("Max-Age=0")
    });
    assert!(cleared, "the cookie is cleared");
    let (status, _) = get_with_cookie(&s, &cookie, "/").await;
    assert_eq!(status, 401, "the old cookie no longer works");
}

#[tokio::test]
async fn a_cookie_authenticated_post_from_another_origin_or_none_is_refused() {
    let s = TestServer::start().await;
    let (_, cookie) = sign_in(&s, SID_A, TOKEN_A).await;
    let cookie = cookie.unwrap();
    let rule = [("To", "+1555*"), ("Outcome", "failed"), ("ErrorCode", "30003")];
    let post = |origin: Option<&'static str>, referer: Option<String>| {
        let mut req = bare()
            .post(format!("{}/simulator/rules", s.url))
            .header("cookie", cookie.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencode(&rule));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(r) = referer {
            req = req.header("referer", r);
        }
        req.send()
    };
    assert_eq!(post(Some("http://evil.example"), None).await.unwrap().status().as_u16(), 403);
    assert_eq!(post(None, None).await.unwrap().status().as_u16(), 403, "no proof of origin");
    assert_eq!(post(None, Some("http://evil.example/".into())).await.unwrap().status().as_u16(), 403);
    let (_, html) = get_with_cookie(&s, &cookie, "/simulator").await;
    assert!(!html.contains("30003"), "no rule was added: {html}");
    let ok = post(None, Some(format!("{}/simulator", s.url))).await.unwrap();
    assert_eq!(ok.status().as_u16(), 303, "a same-origin Referer is proof");
    let (_, html) = get_with_cookie(&s, &cookie, "/simulator").await;
    assert!(html.contains("30003"), "the rule was added");
}

#[tokio::test]
async fn a_parent_switches_to_its_subaccount_and_a_subaccount_never_reaches_the_parent() {
    let s = TestServer::start().await;
    let (code, sub) = s.post("/2010-04-01/Accounts.json", &[("FriendlyName", "tenant")]).await;
    assert_eq!(code, 201, "{sub}");
    let (sub_sid, sub_token) =
        (sub["sid"].as_str().unwrap().to_string(), sub["auth_token"].as_str().unwrap().to_string());
    s.create("+14155552671", "parent secret").await;
    let (code, m) = s
        .post_as(
            &sub_sid,
            &sub_token,
            &TestServer::messages_path(&sub_sid),
            &[("To", "+14155552672"), ("From", "+14155550101"), ("Body", "child note")],
        )
        .await;
    assert_eq!(code, 201, "{m}");

    let (_, parent) = sign_in(&s, SID_A, TOKEN_A).await;
    let parent = parent.unwrap();
    let (_, html) = get_with_cookie(&s, &parent, "/messages").await;
    assert!(html.contains("data-testid=\"account-switch\"") && html.contains(&sub_sid), "a switcher: {html}");
    assert!(html.contains("parent secret") && !html.contains("child note"));
    let url = s.url.clone();
    let switch = |cookie: String, to: String| {
        let url = url.clone();
        async move {
            bare()
                .post(format!("{url}/account"))
                .header("cookie", cookie)
                .header("origin", url.clone())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(serde_urlencode(&[("account", &to)]))
                .send()
                .await
                .unwrap()
        }
    };
    let resp = switch(parent.clone(), sub_sid.clone()).await;
    assert_eq!(resp.status().as_u16(), 303);
    let picked = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let both = format!("{parent}; {picked}");
    let (_, html) = get_with_cookie(&s, &both, "/messages").await;
    assert!(html.contains("child note") && !html.contains("parent secret"), "the subaccount's inbox: {html}");
    assert_eq!(switch(parent.clone(), SID_B.into()).await.status().as_u16(), 404, "another main account");

    // The subaccount, signed in, cannot pick its parent, nor see it with a forged cookie.
    let (_, child) = sign_in(&s, &sub_sid, &sub_token).await;
    let child = child.unwrap();
    assert_eq!(switch(child.clone(), SID_A.into()).await.status().as_u16(), 404);
    let forged = format!("{child}; sb_inbox_account={SID_A}");
    let (status, html) = get_with_cookie(&s, &forged, "/messages").await;
    assert_eq!(status, 200);
    assert!(html.contains("child note") && !html.contains("parent secret"), "{html}");
    assert!(!html.contains("account-switch"), "a subaccount has nothing to switch to");
    // Basic sign-in keeps working for the parent, and the same switch applies.
    let resp = bare()
        .get(format!("{}/messages", s.url))
        .basic_auth(SID_A, Some(TOKEN_A))
        .header("cookie", picked)
        .send()
        .await
        .unwrap();
    assert!(resp.text().await.unwrap().contains("child note"));
}

#[tokio::test]
async fn the_signin_form_falls_under_the_same_address_lockout_as_http_basic() {
    let s = TestServer::start_with(|c| c.request_limits.auth_failures = Some(3)).await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        statuses.push(sign_in(&s, SID_A, &format!("guess{i}")).await.0.status().as_u16());
    }
    assert_eq!(statuses, [401; 3]);
    // Locked out: even the right token makes no session, by form or by Basic.
    let (resp, cookie) = sign_in(&s, SID_A, TOKEN_A).await;
    assert_eq!(resp.status().as_u16(), 429);
    assert!(cookie.is_none());
    let (status, _, _) = page(&s, "/").await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn a_rotated_auth_token_ends_the_sessions_signed_in_with_it() {
    let s = TestServer::start().await;
    let (_, cookie) = sign_in(&s, SID_A, TOKEN_A).await;
    let cookie = cookie.unwrap();
    assert_eq!(get_with_cookie(&s, &cookie, "/").await.0, 200);
    let (code, body) = s.post("/v1/AuthTokens/Secondary", &[]).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(get_with_cookie(&s, &cookie, "/").await.0, 200, "the signed-in token is still valid");
    let (code, body) = s.post("/v1/AuthTokens/Promote", &[]).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(get_with_cookie(&s, &cookie, "/").await.0, 401, "the old primary no longer holds a session");
}
