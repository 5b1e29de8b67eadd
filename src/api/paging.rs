//! Paging shared by every list endpoint: the `PageSize`/`Page`/`PageToken` parameters, keyset
//! windows, page links, and the two envelopes — v2010 (`first_page_uri`, … root-relative, one
//! resource key) and v1 (`meta` with absolute URLs, which the SDKs follow as given).
//!
//! Keyset paging: a `PageToken` is `PA` + the last SID of a page (the next page starts after it)
//! or `PB` + the first SID (the previous page ends before it). The token carries its own
//! position, so rows deleted or added between requests never shift a page. `Page` is only a
//! counter echoed back (it makes `start`/`end`); a `Page` above 0 needs a token.
//!
//! A handler asks the store for [`PageRequest::limit`] rows (one more than a page, to know
//! whether another follows), cuts them with [`PageRequest::window`], renders the rows, and wraps
//! them in [`V2010Page::new`] or [`V1Page::new`].

use super::error::ApiError;
use super::form::{self, Pairs};
use crate::store::Cursor;
use serde::ser::{Serialize, SerializeMap, Serializer};
use switchboard_domain::{sid, TwilioError};

/// `PageSize` when none is given.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest `PageSize`; larger values are clamped (the SDKs send `PageSize=limit`).
pub const MAX_PAGE_SIZE: usize = 1000;

/// The paging parameters of one list request.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    /// Rows per page.
    pub page_size: usize,
    /// The page number the client says this is.
    pub page: u64,
    /// The `PageToken` as given (echoed in the page's own link).
    pub token: Option<String>,
    /// Where the page starts.
    pub cursor: Cursor,
}

impl PageRequest {
    /// Reads `PageSize`, `Page` and `PageToken`; a token must name a SID with one of `prefixes`.
    pub fn parse(q: &Pairs, prefixes: &[&str]) -> Result<PageRequest, ApiError> {
        let page_size = match form::last(q, "PageSize") {
            None | Some("") => DEFAULT_PAGE_SIZE,
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if n >= 1 => usize::try_from(n).unwrap_or(MAX_PAGE_SIZE).min(MAX_PAGE_SIZE),
                _ => {
                    return Err(TwilioError::invalid_parameter(format!(
                        "PageSize must be an integer between 1 and {MAX_PAGE_SIZE}, got '{v}'"
                    ))
                    .into())
                }
            },
        };
        let page = match form::last(q, "Page") {
            None | Some("") => 0,
            Some(v) => v.trim().parse::<u64>().map_err(|_| {
                TwilioError::invalid_parameter(format!("Page must be a non-negative integer, got '{v}'"))
            })?,
        };
        let token = form::last(q, "PageToken").filter(|s| !s.is_empty()).map(str::to_string);
        let cursor = match token.as_deref() {
            None if page > 0 => return Err(TwilioError::page_token_required().into()),
            None => Cursor::Start,
            Some(t) => parse_token(t, prefixes).ok_or_else(TwilioError::invalid_page_token)?,
        };
        Ok(PageRequest { page_size, page, token, cursor })
    }

    /// How many rows to ask the store for: one more than a page.
    pub fn limit(&self) -> usize {
        self.page_size + 1
    }

    /// Cuts the rows the store returned (in list order, at most [`limit`](Self::limit)) to one
    /// page and works out the tokens of its neighbours.
    pub fn window<T>(&self, mut rows: Vec<T>, sid_of: impl Fn(&T) -> &str) -> Window<T> {
        let more = rows.len() > self.page_size;
        let (has_next, has_prev) = match &self.cursor {
            Cursor::Before(_) => {
                if more {
                    rows.remove(0); // the extra row lies beyond the previous page
                }
                (true, more || self.page > 0)
            }
            _ => {
                rows.truncate(self.page_size);
                (more, self.page > 0)
            }
        };
        let next_token = rows.last().filter(|_| has_next).map(|r| format!("PA{}", sid_of(r)));
        let previous_token = rows.first().filter(|_| has_prev && self.page > 0).map(|r| format!("PB{}", sid_of(r)));
        Window { rows, next_token, previous_token }
    }

    /// Index of the first row of this page in the whole list (`start`).
    fn start(&self) -> usize {
        usize::try_from(self.page).unwrap_or(usize::MAX).saturating_mul(self.page_size)
    }
}

/// `PA<sid>` pages after that SID, `PB<sid>` before it; the SID must carry one of `prefixes`.
pub fn parse_token(t: &str, prefixes: &[&str]) -> Option<Cursor> {
    let (kind, rest) = (t.get(..2)?, t.get(2..)?);
    if !prefixes.iter().any(|p| sid::is_valid(rest, p)) {
        return None;
    }
    let key = rest[2..].to_ascii_lowercase();
    match kind {
        "PA" => Some(Cursor::After(key)),
        "PB" => Some(Cursor::Before(key)),
        _ => None,
    }
}

/// One page of rows and the tokens of the pages around it.
#[derive(Debug, Clone, PartialEq)]
pub struct Window<T> {
    /// The rows of the page, in list order.
    pub rows: Vec<T>,
    /// `PageToken` of the next page, if there is one.
    pub next_token: Option<String>,
    /// `PageToken` of the previous page, if there is one.
    pub previous_token: Option<String>,
}

/// The links of one list: `base` (a root-relative path for v2010, an absolute URL for v1), then
/// the filters as given, then the paging parameters.
pub struct Links<'a> {
    base: &'a str,
    filters: &'a [(&'static str, String)],
    page_size: usize,
}

impl<'a> Links<'a> {
    /// Links under `base` that repeat `filters`.
    pub fn new(base: &'a str, filters: &'a [(&'static str, String)], page_size: usize) -> Self {
        Links { base, filters, page_size }
    }

    /// The link of page `page`, positioned by `token`.
    pub fn page(&self, page: u64, token: Option<&str>) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.filters {
            s.append_pair(k, v);
        }
        s.append_pair("PageSize", &self.page_size.to_string());
        s.append_pair("Page", &page.to_string());
        if let Some(t) = token {
            s.append_pair("PageToken", t);
        }
        format!("{}?{}", self.base, s.finish())
    }
}

/// The four links of a page: first, this one, next, previous.
struct PageLinks {
    first: String,
    this: String,
    next: Option<String>,
    previous: Option<String>,
}

fn page_links<T>(req: &PageRequest, window: &Window<T>, base: &str, filters: &[(&'static str, String)]) -> PageLinks {
    let links = Links::new(base, filters, req.page_size);
    PageLinks {
        first: links.page(0, None),
        this: links.page(req.page, req.token.as_deref()),
        next: window.next_token.as_deref().map(|t| links.page(req.page + 1, Some(t))),
        previous: window.previous_token.as_deref().map(|t| links.page(req.page.saturating_sub(1), Some(t))),
    }
}

/// A v2010 list page: the paging properties and exactly one resource key (the SDKs reject pages
/// with more), serialised in Twilio's alphabetical key order.
#[derive(Debug, Clone, PartialEq)]
pub struct V2010Page<T> {
    key: &'static str,
    items: Vec<T>,
    end: usize,
    first_page_uri: String,
    next_page_uri: Option<String>,
    page: u64,
    page_size: usize,
    previous_page_uri: Option<String>,
    start: usize,
    uri: String,
}

impl<T> V2010Page<T> {
    /// The page of `items` (the rendered rows of `window`) under the root-relative `path`.
    pub fn new<R>(
        key: &'static str,
        req: &PageRequest,
        window: &Window<R>,
        path: &str,
        filters: &[(&'static str, String)],
        items: Vec<T>,
    ) -> Self {
        let links = page_links(req, window, path, filters);
        let start = req.start();
        V2010Page {
            key,
            end: start + items.len().saturating_sub(1),
            items,
            first_page_uri: links.first,
            next_page_uri: links.next,
            page: req.page,
            page_size: req.page_size,
            previous_page_uri: links.previous,
            start,
            uri: links.this,
        }
    }
}

impl<T: Serialize> Serialize for V2010Page<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(10))?;
        let mut items_written = false;
        // Each paging key in order, with the resource key slotted in where it sorts.
        macro_rules! entry {
            ($name:literal, $value:expr) => {
                if !items_written && self.key < $name {
                    map.serialize_entry(self.key, &self.items)?;
                    items_written = true;
                }
                map.serialize_entry($name, $value)?;
            };
        }
        entry!("end", &self.end);
        entry!("first_page_uri", &self.first_page_uri);
        entry!("next_page_uri", &self.next_page_uri);
        entry!("page", &self.page);
        entry!("page_size", &self.page_size);
        entry!("previous_page_uri", &self.previous_page_uri);
        entry!("start", &self.start);
        entry!("uri", &self.uri);
        if !items_written {
            map.serialize_entry(self.key, &self.items)?;
        }
        map.end()
    }
}

/// `meta` of a v1 list page: absolute URLs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct V1Meta {
    first_page_url: String,
    key: &'static str,
    next_page_url: Option<String>,
    page: u64,
    page_size: usize,
    previous_page_url: Option<String>,
    url: String,
}

/// A v1 list page: `{"<key>": [...], "meta": {...}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct V1Page<T> {
    items: Vec<T>,
    meta: V1Meta,
}

impl<T> V1Page<T> {
    /// The page of `items` (the rendered rows of `window`) under the absolute `url`.
    pub fn new<R>(
        key: &'static str,
        req: &PageRequest,
        window: &Window<R>,
        url: &str,
        filters: &[(&'static str, String)],
        items: Vec<T>,
    ) -> Self {
        let links = page_links(req, window, url, filters);
        V1Page {
            items,
            meta: V1Meta {
                first_page_url: links.first,
                key,
                next_page_url: links.next,
                page: req.page,
                page_size: req.page_size,
                previous_page_url: links.previous,
                url: links.this,
            },
        }
    }
}

impl<T: Serialize> Serialize for V1Page<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry(self.meta.key, &self.items)?;
        map.serialize_entry("meta", &self.meta)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Pairs {
        form::decode(q.as_bytes())
    }

    fn sid(n: u8) -> String {
        format!("PN{:032x}", n)
    }

    #[test]
    fn page_size_defaults_clamps_and_rejects_nonsense() {
        assert_eq!(PageRequest::parse(&pairs(""), &["PN"]).unwrap().page_size, DEFAULT_PAGE_SIZE);
        assert_eq!(PageRequest::parse(&pairs("PageSize=5000"), &["PN"]).unwrap().page_size, MAX_PAGE_SIZE);
        assert_eq!(PageRequest::parse(&pairs("PageSize=0"), &["PN"]).unwrap_err().0.code, 20001);
        assert_eq!(PageRequest::parse(&pairs("PageSize=x"), &["PN"]).unwrap_err().0.code, 20001);
    }

    #[test]
    fn tokens_must_name_a_sid_of_the_listed_kind() {
        let t = format!("PA{}", sid(1));
        let req = PageRequest::parse(&pairs(&format!("Page=1&PageToken={t}")), &["PN"]).unwrap();
        assert_eq!(req.cursor, Cursor::After(format!("{:032x}", 1)));
        assert_eq!(PageRequest::parse(&pairs(&format!("PageToken={t}")), &["MG"]).unwrap_err().0.code, 21481);
        assert_eq!(PageRequest::parse(&pairs("PageToken=PXnope"), &["PN"]).unwrap_err().0.code, 21481);
        assert_eq!(PageRequest::parse(&pairs("Page=2"), &["PN"]).unwrap_err().0.code, 70002);
    }

    #[test]
    fn a_window_keeps_one_page_and_knows_its_neighbours() {
        let req = PageRequest::parse(&pairs("PageSize=2"), &["PN"]).unwrap();
        let w = req.window(vec![sid(1), sid(2), sid(3)], |s| s);
        assert_eq!(w.rows, [sid(1), sid(2)]);
        assert_eq!(w.next_token, Some(format!("PA{}", sid(2))));
        assert_eq!(w.previous_token, None);

        let back = PageRequest::parse(&pairs(&format!("PageSize=2&Page=1&PageToken=PB{}", sid(5))), &["PN"]).unwrap();
        let w = back.window(vec![sid(2), sid(3), sid(4)], |s| s);
        assert_eq!(w.rows, [sid(3), sid(4)]);
        assert_eq!(w.next_token, Some(format!("PA{}", sid(4))));
        assert_eq!(w.previous_token, Some(format!("PB{}", sid(3))));
    }

    #[test]
    fn the_v2010_envelope_puts_its_resource_key_in_alphabetical_order() {
        let req = PageRequest::parse(&pairs("PageSize=1"), &["PN"]).unwrap();
        let w = req.window(vec![sid(1), sid(2)], |s| s);
        let filters = [("PhoneNumber", "+1415".to_string())];
        let page = V2010Page::new("incoming_phone_numbers", &req, &w, "/x.json", &filters, vec![1]);
        let json = serde_json::to_string(&page).unwrap();
        let keys: Vec<&str> = [
            "end",
            "first_page_uri",
            "incoming_phone_numbers",
            "next_page_uri",
            "page",
            "page_size",
            "previous_page_uri",
            "start",
            "uri",
        ]
        .to_vec();
        let mut last = 0;
        for k in keys {
            let at = json.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("{k} missing in {json}"));
            assert!(at >= last, "{k} out of order in {json}");
            last = at;
        }
        assert!(json.contains(&format!(
            "\"next_page_uri\":\"/x.json?PhoneNumber=%2B1415&PageSize=1&Page=1&PageToken=PA{}\"",
            sid(1)
        )));
        let short = serde_json::to_value(V2010Page::new("short_codes", &req, &w, "/y.json", &[], vec![1])).unwrap();
        assert_eq!(short["short_codes"], serde_json::json!([1]));
        assert_eq!((short["start"].as_u64(), short["end"].as_u64()), (Some(0), Some(0)));
    }

    #[test]
    fn the_v1_envelope_has_meta_with_absolute_urls() {
        let req = PageRequest::parse(&pairs(""), &["MG"]).unwrap();
        let w = req.window(Vec::<String>::new(), |s| s);
        let page = V1Page::new("services", &req, &w, "http://h/v1/Services", &[], Vec::<u8>::new());
        let v = serde_json::to_value(page).unwrap();
        assert_eq!(v["services"], serde_json::json!([]));
        assert_eq!(v["meta"]["key"], "services");
        assert_eq!(v["meta"]["url"], "http://h/v1/Services?PageSize=50&Page=0");
        assert_eq!(v["meta"]["next_page_url"], serde_json::Value::Null);
    }
}
