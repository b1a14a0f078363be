//! Who is asking, and whether they may: one middleware for every request, one extractor for
//! every management endpoint, and sign-in and sign-out.
//!
//! - A `Bearer` admin token acts as an admin; an ingest key may only ingest.
//! - A session cookie acts as its user, with the user's role.
//! - Anyone else is anonymous: a viewer when `auth.anonymous_read` is on, else nobody.
//!
//! Reading (pages, the query API, server functions) needs at least a viewer; management
//! endpoints name their role with [`Authorized`]; the dashboard's server functions check for an
//! editor themselves (`app::auth::require_editor`) from the [`Who`] this middleware attaches.
//!
//! CSRF: a state-changing request that a browser could send on its own (it carries the session
//! cookie, or is a sign-in or server-function form post) must come from this site's own pages:
//! its `Origin` (or, lacking one, `Referer`) must name the host it was sent to. Together with
//! `SameSite=Lax` cookies this refuses cross-site forms and fetches.

use super::ApiError;
use crate::accounts::{Denied, LoginError, Principal, Role, SESSION_COOKIE};
use crate::app_state::AppState;
use crate::store::KeyKind;
use app::model::Who;
use axum::extract::{ConnectInfo, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").map(str::trim))
}

fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
        .filter(|t| !t.is_empty())
}

/// The requester's address, when the server knows it.
pub fn client_ip(parts_ext: &axum::http::Extensions) -> Option<String> {
    parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
}

/// The requester's address as an extractor; `None` when served without connection info.
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(&parts.extensions)))
    }
}

/// Establishes who sent a request. A bearer token that matches nothing is an error (401).
pub async fn principal(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    if let Some(token) = bearer(headers) {
        return match state.keys.check(token).await? {
            Some(key) => Ok(Principal {
                name: format!("token {}…", key.prefix),
                role: match key.kind {
                    KeyKind::Admin => Some(Role::Admin),
                    KeyKind::Read => Some(Role::Viewer),
                    KeyKind::Ingest => None,
                },
                session: None,
            }),
            None => Err(ApiError::unauthorized("invalid API token")),
        };
    }
    if let Some(token) = session_token(headers) {
        if let Some(p) = state.accounts.session(token).await {
            return Ok(p);
        }
    }
    let anonymous = state.accounts.anonymous_read().then_some(Role::Viewer);
    Ok(Principal::anonymous(anonymous))
}

fn denied(d: Denied) -> ApiError {
    match d {
        Denied::SignIn => ApiError::unauthorized("sign in, or send Authorization: Bearer <token>"),
        Denied::Forbidden { needed } => ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this needs the {} role", needed.as_str()),
        ),
    }
}

/// Whether the request comes from a page of this site (`Origin` or `Referer` names the host).
pub(super) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    match source {
        Some(url) => url
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next() == Some(host))
            .unwrap_or(false),
        None => false,
    }
}

/// Paths anyone may reach: those that authenticate themselves (ingest keys, embed tokens), those
/// that must work signed out (signing in, health), and the site's static files. Everything else
/// needs at least a viewer, whatever the method or headers: deny by default.
fn public_path(path: &str) -> bool {
    matches!(
        path,
        "/api/v1/ingest"
            | "/api/v1/csp-report"
            | "/api/v1/login"
            | "/api/v1/logout"
            | "/login"
            | "/logout"
            | "/metrics"
            | "/healthz"
            | "/readyz"
            | "/api/openapi.json"
    ) || path.starts_with("/v1/")
        // Embeds carry their own authority: a token, checked by the page or stream itself.
        || path.starts_with("/embed/")
        || super::site::is_asset(path)
}

/// A page a browser navigates to: where a signed-out person is sent to sign in rather than
/// answered 401.
fn is_navigation(req: &Request) -> bool {
    req.method() == Method::GET
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
        && !req.uri().path().starts_with("/api/")
}

/// Runs on every request: CSRF check, reader check, and the [`Who`] for pages.
pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path == "/api/v1/ingest" || path == "/api/v1/csp-report" || path.starts_with("/v1/") {
        // Ingest checks its own keys and never reads the session, so a cross-site request
        // carries no authority to forge: monitored sites on other origins send here.
        return super::ingest::with_cors(&state, req, next).await;
    }
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let headers = req.headers();
    let browser_borne = session_token(headers).is_some()
        || path == "/login"
        || path == "/logout"
        || path.starts_with("/_osprey/");
    if unsafe_method && browser_borne && bearer(headers).is_none() && !same_origin(headers) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "cross-site request refused: it must come from this site's pages",
        )
        .into_response();
    }
    let principal = match principal(&state, req.headers()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if !public_path(&path) {
        if let Err(d) = principal.require(Role::Viewer) {
            if is_navigation(&req) && d == Denied::SignIn {
                let next_url = req
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/".into());
                let target = format!("/login?next={}", percent_encode(&next_url));
                return Redirect::to(&target).into_response();
            }
            return denied(d).into_response();
        }
    }
    req.extensions_mut().insert(Who {
        name: principal.name.clone(),
        role: principal
            .role
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        signed_in: principal.session.is_some(),
    });
    req.extensions_mut().insert(principal);
    next.run(req).await
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A caller with at least role `R` (0 viewer, 1 editor, 2 admin), and where they are.
pub struct Authorized<const R: u8> {
    pub principal: Principal,
    pub ip: Option<String>,
}
pub type AsViewer = Authorized<0>;
pub type AsEditor = Authorized<1>;
pub type AsAdmin = Authorized<2>;

impl<const R: u8> FromRequestParts<AppState> for Authorized<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = match parts.extensions.get::<Principal>() {
            Some(p) => p.clone(),
            None => principal(state, &parts.headers).await?,
        };
        let needed = match R {
            0 => Role::Viewer,
            1 => Role::Editor,
            _ => Role::Admin,
        };
        principal.require(needed).map_err(denied)?;
        Ok(Authorized {
            principal,
            ip: client_ip(&parts.extensions),
        })
    }
}

impl<const R: u8> Authorized<R> {
    /// How this caller appears in timelines and the audit log.
    pub fn actor(&self) -> &str {
        &self.principal.name
    }

    /// Records what this caller did in the audit log.
    pub async fn audit(&self, state: &AppState, action: &str, target: &str) {
        state
            .accounts
            .record(self.actor(), action, target, self.ip.as_deref(), "")
            .await;
    }
}

#[derive(Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
}

fn too_many(retry_after: std::time::Duration) -> ApiError {
    ApiError {
        retry_after: Some(retry_after.as_secs().max(1)),
        ..ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many failed sign-ins; try again later",
        )
    }
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `POST /api/v1/login` `{"username", "password"}` → 200 and a session cookie.
pub async fn login_api(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(c): Json<Credentials>,
) -> Result<Response, ApiError> {
    match state
        .accounts
        .login(&c.username, &c.password, ip.as_deref())
        .await
    {
        Ok((token, user)) => {
            let body = Json(json!({"username": user.username, "role": user.role}));
            Ok(with_cookie(
                body.into_response(),
                &state.accounts.session_cookie(&token),
            ))
        }
        Err(LoginError::Invalid) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong username or password",
        )),
        Err(LoginError::RateLimited { retry_after }) => Err(too_many(retry_after)),
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// The sign-in page's form: on success back to `next`, else back to the form with the reason.
pub async fn login_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = app::auth::local_path(&f.next);
    match state
        .accounts
        .login(&f.username, &f.password, ip.as_deref())
        .await
    {
        Ok((token, _)) => with_cookie(
            Redirect::to(next).into_response(),
            &state.accounts.session_cookie(&token),
        ),
        Err(LoginError::Invalid) => Redirect::to(&format!(
            "/login?error=invalid&next={}",
            percent_encode(next)
        ))
        .into_response(),
        Err(LoginError::RateLimited { .. }) => Redirect::to(&format!(
            "/login?error=limited&next={}",
            percent_encode(next)
        ))
        .into_response(),
    }
}

/// `POST /api/v1/logout` and the sign-out button: ends the session on the server.
pub async fn logout(State(state): State<AppState>, req: Request) -> Response {
    let ip = client_ip(req.extensions());
    if let Ok(p) = principal(&state, req.headers()).await {
        state.accounts.logout(&p, ip.as_deref()).await;
    }
    let response = if req.uri().path() == "/logout" {
        Redirect::to("/").into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    with_cookie(response, &state.accounts.clear_cookie())
}

#[derive(Deserialize)]
pub struct AuditParams {
    from: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/audit` (admins).
pub async fn audit(
    _: AsAdmin,
    State(state): State<AppState>,
    Query(p): Query<AuditParams>,
) -> Result<Response, ApiError> {
    let now = chrono::Utc::now().timestamp_millis();
    let from =
        crate::query::params::parse_time("from", p.from.as_deref().unwrap_or("now-7d"), now)?;
    let entries = state
        .store
        .audit_log(from, p.limit.unwrap_or(200).min(5_000))
        .await?;
    let entries: Vec<_> = entries
        .into_iter()
        .map(|e| {
            json!({"time": e.ts, "actor": e.actor, "action": e.action, "target": e.target,
                   "ip": e.ip, "detail": e.detail})
        })
        .collect();
    Ok(Json(json!({ "entries": entries })).into_response())
}

fn user_error(message: String) -> ApiError {
    if let Some(rest) = message.strip_prefix("not found: ") {
        return ApiError::not_found(format!("{rest} not found"));
    }
    if let Some(rest) = message.strip_prefix("conflict: ") {
        return ApiError::new(StatusCode::CONFLICT, "conflict", rest.to_string());
    }
    let (field, text) = message.split_once(": ").unwrap_or(("", message.as_str()));
    let e = ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", text.to_string());
    if field.is_empty() {
        e
    } else {
        e.field(field.to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    username: String,
    password: String,
    role: String,
}

/// `POST /api/v1/users` (admins) → 201 `{"id"}`.
pub async fn create_user(
    who: AsAdmin,
    State(state): State<AppState>,
    Json(u): Json<NewUser>,
) -> Result<Response, ApiError> {
    let role = Role::parse(&u.role)
        .ok_or_else(|| user_error("role: expected viewer, editor or admin".into()))?;
    let user = state
        .accounts
        .create_user(&u.username, &u.password, role)
        .await
        .map_err(user_error)?;
    who.audit(
        &state,
        "user.create",
        &format!("{} ({})", user.username, user.role),
    )
    .await;
    Ok((StatusCode::CREATED, Json(json!({"id": user.id}))).into_response())
}

/// `GET /api/v1/users` (admins).
pub async fn users(_: AsAdmin, State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(json!({"users": state.accounts.users().await?})).into_response())
}

/// `PATCH /api/v1/users/{id}` `{"role", "disabled", "password"}` (admins).
pub async fn update_user(
    who: AsAdmin,
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    Json(patch): Json<crate::accounts::UserPatch>,
) -> Result<Response, ApiError> {
    let (user, changed) = state
        .accounts
        .update_user(&id, patch)
        .await
        .map_err(user_error)?;
    for change in &changed {
        let (action, detail) = change.split_once(' ').unwrap_or((change.as_str(), ""));
        state
            .accounts
            .record(
                who.actor(),
                action,
                &user.username,
                who.ip.as_deref(),
                detail,
            )
            .await;
    }
    Ok(Json(user).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    name: String,
    scope: String,
}

fn key_scope(scope: &str) -> Result<KeyKind, ApiError> {
    KeyKind::parse(scope).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            format!("scope {scope:?}: expected ingest, read or admin"),
        )
        .field("scope")
    })
}

/// `POST /api/v1/keys` `{"name", "scope": "ingest|read|admin"}` (admins) → 201 with the key,
/// shown this once.
pub async fn create_key(
    who: AsAdmin,
    State(state): State<AppState>,
    Json(k): Json<NewKey>,
) -> Result<Response, ApiError> {
    let (view, key) = new_key(&state, &k.name, &k.scope).await?;
    who.audit(
        &state,
        "key.create",
        &format!("{} {} ({})", view.scope, view.prefix, view.name),
    )
    .await;
    let mut body = serde_json::to_value(&view).expect("keys serialise");
    body["key"] = json!(key);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Creates a key after checking its name (1 to 200 characters) and scope; the API and the
/// Settings page both create keys through here. Returns the key's listing and its secret.
pub(super) async fn new_key(
    state: &AppState,
    name: &str,
    scope: &str,
) -> Result<(crate::auth::KeyView, String), ApiError> {
    let kind = key_scope(scope)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            "name: 1 to 200 characters",
        )
        .field("name"));
    }
    Ok(crate::auth::create_key(state.store.as_ref(), kind, name).await?)
}

/// Revokes key `id` and creates its successor of the same scope and name: the revoked key's row
/// and the new key's listing and secret.
pub(super) async fn replace_key(
    state: &AppState,
    id: &str,
) -> Result<(crate::store::KeyRow, crate::auth::KeyView, String), ApiError> {
    let old = revoke(state, id).await?;
    let kind = KeyKind::parse(&old.kind).unwrap_or(KeyKind::Ingest);
    let (view, key) = crate::auth::create_key(state.store.as_ref(), kind, &old.name).await?;
    Ok((old, view, key))
}

/// `GET /api/v1/keys` (admins): prefixes only.
pub async fn keys(_: AsAdmin, State(state): State<AppState>) -> Result<Response, ApiError> {
    let keys: Vec<crate::auth::KeyView> = state
        .store
        .keys()
        .await?
        .into_iter()
        .map(crate::auth::KeyView::from)
        .collect();
    Ok(Json(json!({ "keys": keys })).into_response())
}

pub(super) async fn revoke(state: &AppState, id: &str) -> Result<crate::store::KeyRow, ApiError> {
    let now = chrono::Utc::now().timestamp_millis();
    let key = state
        .store
        .revoke_key(id, now)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("live key {id} not found")))?;
    state.keys.forget(&key.hash);
    Ok(key)
}

/// `DELETE /api/v1/keys/{id}` (admins): the key stops working at once.
pub async fn revoke_key(
    who: AsAdmin,
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<StatusCode, ApiError> {
    let key = revoke(&state, &id).await?;
    who.audit(
        &state,
        "key.revoke",
        &format!("{} {} ({})", key.kind, key.prefix, key.name),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/keys/{id}/rotate` (admins): a new key of the same scope and name replaces it.
pub async fn rotate_key(
    who: AsAdmin,
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let (old, view, key) = replace_key(&state, &id).await?;
    who.audit(
        &state,
        "key.rotate",
        &format!("{} {} → {}", old.kind, old.prefix, view.prefix),
    )
    .await;
    let mut body = serde_json::to_value(&view).expect("keys serialise");
    body["key"] = json!(key);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Headers every response carries: no MIME sniffing, no referrer to other sites, and no framing
/// (pages set their own fuller policy with a script nonce; embeds will allow their hosts).
pub async fn security_headers(req: Request, next: Next) -> Response {
    // Embeds may be framed where their token allows, which their own CSP's frame-ancestors
    // says; every other response may not be framed at all.
    let embed = req.uri().path().starts_with("/embed/");
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    if !embed {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    response
}
