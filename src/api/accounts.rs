//! v2010 Accounts: `/2010-04-01/Accounts.json` (list the caller's account and its
//! subaccounts; create a subaccount) and `/2010-04-01/Accounts/{Sid}.json` (fetch; update
//! `FriendlyName` and `Status`). Only auth tokens and main keys reach them ([`Caller`]).

use super::auth::{Caller, Principal};
use super::error::{ApiError, ApiResult};
use super::form::{self, Pairs};
use super::paging::{PageRequest, V2010Page};
use super::params::{json_sid, Params};
use super::render;
use super::{AppState, SharedState};
use crate::clock::now_ms;
use crate::store::senders::{IncomingNumber, SenderFilter};
use crate::store::{AccountEdit, AccountRecord, AccountStatus, Cursor};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;
use switchboard_domain::{sid, TwilioError};

/// The routes of this resource.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/2010-04-01/Accounts.json", get(list).post(create))
        // `{account}` (`AC….json`), like the resources under an account, so the routes share a
        // parameter name at this position.
        .route("/2010-04-01/Accounts/{account}", get(fetch).post(update))
}

/// The rows of one page of an in-memory list sorted by SID, relative to the cursor, with one
/// extra row for [`PageRequest::window`] to detect a neighbour page.
pub(super) fn page_rows<T>(mut rows: Vec<T>, req: &PageRequest, sid_of: impl Fn(&T) -> &str) -> Vec<T> {
    let key = |t: &T| sid_of(t).get(2..).unwrap_or("").to_ascii_lowercase();
    match &req.cursor {
        Cursor::Start => {
            rows.truncate(req.limit());
            rows
        }
        Cursor::After(k) => rows.into_iter().filter(|r| key(r) > *k).take(req.limit()).collect(),
        Cursor::Before(k) => {
            rows.retain(|r| key(r) < *k);
            let skip = rows.len().saturating_sub(req.limit());
            rows.split_off(skip)
        }
    }
}

/// GET /2010-04-01/Accounts.json: the caller's account and its subaccounts, filtered by
/// `FriendlyName` (exact) and `Status`.
async fn list(State(state): State<SharedState>, Caller(p): Caller, uri: Uri) -> ApiResult<Response> {
    let q = form::decode(uri.query().unwrap_or("").as_bytes());
    let params = Params(&q);
    let name = params.raw("FriendlyName").map(str::to_string);
    let status = match params.raw("Status") {
        None | Some("") => None,
        Some(s) => Some(AccountStatus::parse(s).ok_or_else(|| bad_status(s))?),
    };
    let mut echo = Vec::new();
    if let Some(n) = &name {
        echo.push(("FriendlyName", n.clone()));
    }
    if let Some(s) = status {
        echo.push(("Status", s.as_str().to_string()));
    }
    let req = PageRequest::parse(&q, &["AC"])?;
    let family = if p.account.is_subaccount() {
        vec![(*p.account).clone()]
    } else {
        state.store.account_family(&p.account.sid).await?
    };
    let rows: Vec<AccountRecord> = family
        .into_iter()
        .filter(|a| name.as_ref().is_none_or(|n| &a.friendly_name == n))
        .filter(|a| status.is_none_or(|s| a.status == s))
        .collect();
    let rows = page_rows(rows, &req, |a| a.sid.as_str());
    let window = req.window(rows, |a| a.sid.as_str());
    let items = window.rows.iter().map(render::account).collect();
    Ok(Json(V2010Page::new("accounts", &req, &window, uri.path(), &echo, items)).into_response())
}

/// 21475: a `Status` Twilio does not know.
fn bad_status(s: &str) -> ApiError {
    TwilioError::bad_request(
        21475,
        format!("Unable to update Status, invalid Status '{s}': use active, suspended or closed"),
    )
    .into()
}

/// POST /2010-04-01/Accounts.json: creates a subaccount of the caller (`FriendlyName`); 201
/// with its auth token. A subaccount cannot create one (21101), nor a main account beyond
/// `--subaccount-limit` (21480).
async fn create(State(state): State<SharedState>, Caller(p): Caller, body: Body) -> ApiResult<Response> {
    let pairs = form::read_form(body).await?;
    if p.account.is_subaccount() {
        return Err(TwilioError::bad_request(21101, "Subaccounts cannot create subaccounts").into());
    }
    let now = now_ms();
    let friendly_name = match Params(&pairs).friendly_name()? {
        Some(n) if !n.is_empty() => n,
        _ => {
            let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now).unwrap_or_default();
            format!("SubAccount Created at {}", at.format("%Y-%m-%d %I:%M %P"))
        }
    };
    let record = AccountRecord {
        sid: sid::random("AC"),
        owner_account_sid: p.account.sid.clone(),
        friendly_name,
        status: AccountStatus::Active,
        auth_token: sid::random_hex32(),
        secondary_token: None,
        secondary_date_created: None,
        date_created: now,
        date_updated: now,
    };
    if !state.store.insert_subaccount(record.clone(), state.subaccount_limit).await? {
        return Err(TwilioError::bad_request(
            21480,
            format!("Reached the maximum number of subaccounts ({})", state.subaccount_limit),
        )
        .into());
    }
    Ok((StatusCode::CREATED, Json(render::account(&record))).into_response())
}

/// The account named by the `{Sid}.json` of the path, when the caller may manage it.
async fn target(state: &AppState, p: &Principal, file: &str, uri: &Uri) -> ApiResult<Arc<AccountRecord>> {
    let sid = json_sid(file, &["AC"], uri).map_err(|e| {
        if p.account.is_subaccount() {
            TwilioError::authenticate().into()
        } else {
            e
        }
    })?;
    p.reach(state, sid, uri.path(), true).await
}

/// GET /2010-04-01/Accounts/{Sid}.json.
async fn fetch(
    State(state): State<SharedState>,
    Caller(p): Caller,
    Path(file): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let account = target(&state, &p, &file, &uri).await?;
    Ok(Json(render::account(&account)).into_response())
}

/// POST /2010-04-01/Accounts/{Sid}.json: `FriendlyName`, and `Status` of a subaccount by its
/// parent. Closing is final (21479) and releases the subaccount's phone numbers; a main
/// account's own status does not change (21477).
async fn update(
    State(state): State<SharedState>,
    Caller(p): Caller,
    Path(file): Path<String>,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    let account = target(&state, &p, &file, &uri).await?;
    let pairs = form::read_form(body).await?;
    let edit = parse_edit(&pairs, &p, &account)?;
    let closing = edit.status == Some(AccountStatus::Closed) && account.status != AccountStatus::Closed;
    let updated = state
        .store
        .update_account(&account.sid, edit, now_ms())
        .await?
        .ok_or_else(|| TwilioError::not_found(uri.path()))?;
    state.tokens.forget_account(&account.sid);
    if closing {
        release_numbers(&state, &account.sid).await?;
    }
    Ok(Json(render::account(&updated)).into_response())
}

/// The checked change of an update.
fn parse_edit(pairs: &Pairs, p: &Principal, account: &AccountRecord) -> Result<AccountEdit, ApiError> {
    let params = Params(pairs);
    let friendly_name = params.friendly_name()?.filter(|n| !n.is_empty());
    let status = match params.raw("Status") {
        None | Some("") => None,
        Some(s) => Some(AccountStatus::parse(s).ok_or_else(|| bad_status(s))?),
    };
    if let Some(status) = status {
        if account.status == AccountStatus::Closed && status != AccountStatus::Closed {
            return Err(TwilioError::bad_request(21479, "Unable to update Status for closed subaccount").into());
        }
        if status != account.status {
            if !account.is_subaccount() {
                return Err(TwilioError::bad_request(21477, "Unable to update Status for parent accounts").into());
            }
            // Only the parent changes a subaccount's status.
            if account.sid == p.account.sid {
                return Err(TwilioError::authenticate().into());
            }
            if p.account.status == AccountStatus::Suspended {
                return Err(TwilioError::bad_request(
                    21476,
                    "Unable to update Status for subaccount, parent account is suspended",
                )
                .into());
            }
        }
    }
    Ok(AccountEdit { friendly_name, status, ..Default::default() })
}

/// Releases every phone number of a closed account.
async fn release_numbers(state: &AppState, account_sid: &str) -> ApiResult<()> {
    use crate::store::senders::NumberStore;
    loop {
        let batch: Vec<IncomingNumber> = NumberStore::<IncomingNumber>::list_numbers(
            state.store.as_ref(),
            account_sid,
            &SenderFilter::default(),
            &Cursor::Start,
            100,
        )
        .await?;
        if batch.is_empty() {
            return Ok(());
        }
        for n in &batch {
            NumberStore::<IncomingNumber>::delete_number(state.store.as_ref(), account_sid, &n.number.sid).await?;
        }
    }
}
