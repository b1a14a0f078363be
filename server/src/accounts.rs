//! People: users with roles, password sign-in, sessions, and the audit log.
//!
//! Passwords are hashed with argon2id. A session is a random 32-byte token in an `HttpOnly`,
//! `SameSite=Lax` cookie (`Secure` when the public address is https); the store keeps only its
//! SHA-256, so a leaked database opens no session. Sign-in failures are rate-limited per IP and
//! per username. Who may do what is decided in one place, [`Principal::require`], for the HTTP
//! API and the dashboard's server functions alike.

use crate::auth::hash_key;
use crate::ingest::model::{Batch, SecurityEvent};
use crate::ingest::IngestService;
use crate::store::{AuditEntry, SessionRow, Store, StoreResult, UserRow};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rand::RngCore;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a person may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads dashboards, alerts and incidents.
    Viewer,
    /// Also changes dashboards, rules, channels and silences, and works incidents.
    Editor,
    /// Also manages users, keys and settings, and reads the audit log.
    Admin,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// A username, `token osp_admin_…`, or `anonymous`.
    pub name: String,
    /// `None`: nobody signed in and anonymous reading is off.
    pub role: Option<Role>,
    /// The session's token hash, for sign-out.
    pub session: Option<String>,
}

/// Why a request may not go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// Nobody is signed in: 401 (or the sign-in page).
    SignIn,
    /// Signed in, but the role is too low: 403.
    Forbidden { needed: Role },
}

impl Principal {
    pub fn anonymous(role: Option<Role>) -> Self {
        Principal {
            name: "anonymous".into(),
            role,
            session: None,
        }
    }

    /// The one check every management endpoint and server function goes through.
    pub fn require(&self, needed: Role) -> Result<(), Denied> {
        match self.role {
            Some(role) if role >= needed => Ok(()),
            _ if self.name == "anonymous" => Err(Denied::SignIn),
            _ => Err(Denied::Forbidden { needed }),
        }
    }
}

/// Why a sign-in failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    Invalid,
    RateLimited { retry_after: Duration },
}

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "osprey_session";
/// Failed sign-ins allowed per IP and per username within [`FAILURE_WINDOW`].
const MAX_FAILURES: usize = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

pub struct Accounts {
    store: Arc<dyn Store>,
    session_ttl: Duration,
    anonymous_read: bool,
    secure_cookies: bool,
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
    /// Where sign-ins are reported as security events, once ingest runs.
    sign_ins: std::sync::OnceLock<IngestService>,
}

/// Bytes of a typed username kept in the audit log, security events and the failure map.
const TYPED_BYTES: usize = 64;

/// What a client typed as a username, as it is kept: at most [`TYPED_BYTES`], cut at a
/// character boundary and marked `…` when cut.
fn typed(text: &str) -> String {
    if text.len() <= TYPED_BYTES {
        return text.to_string();
    }
    let cut = (0..=TYPED_BYTES)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    format!("{}…", &text[..cut])
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the username does not exist, so a wrong username costs the
/// same time as a wrong password and does not reveal which users exist.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password nobody has"))
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Accounts {
    pub fn new(
        store: Arc<dyn Store>,
        session_ttl: Duration,
        anonymous_read: bool,
        secure_cookies: bool,
    ) -> Self {
        Accounts {
            store,
            session_ttl,
            anonymous_read,
            secure_cookies,
            failures: Mutex::new(HashMap::new()),
            sign_ins: std::sync::OnceLock::new(),
        }
    }

    /// Whether people who have not signed in may read.
    pub fn anonymous_read(&self) -> bool {
        self.anonymous_read
    }

    /// Creates the first admin when there are no users: with `password` when given, else with
    /// a generated one, returned to be printed once.
    pub async fn bootstrap(&self, password: Option<&str>) -> StoreResult<Option<String>> {
        if !self.store.users().await?.is_empty() {
            return Ok(None);
        }
        let (password, generated) = match password {
            Some(p) => (p.to_string(), None),
            None => {
                let p = new_token()[..24].to_string();
                (p.clone(), Some(p))
            }
        };
        let now = now_ms();
        self.store
            .put_user(&UserRow {
                id: format!("usr_{}", &new_token()[..16]),
                username: "admin".into(),
                password_hash: hash_password(&password),
                role: Role::Admin.as_str().into(),
                disabled: false,
                created_at: now,
                updated_at: now,
            })
            .await?;
        Ok(generated)
    }

    /// Reports every sign-in from now on as a security event of service `osprey`, so Osprey's
    /// own sign-ins are stored, shown and watched for attacks like any application's.
    pub fn report_sign_ins(&self, ingest: IngestService) {
        let _ = self.sign_ins.set(ingest);
    }

    async fn report_sign_in(&self, kind: &str, username: &str, ip: Option<&str>, reason: &str) {
        let Some(ingest) = self.sign_ins.get() else {
            return;
        };
        // The username is whatever was typed: bounded like an ingested label value.
        let actor: String = username.chars().take(128).collect();
        let event = SecurityEvent {
            ts: now_ms(),
            kind: kind.to_string(),
            actor: Some(actor),
            ip: ip.map(str::to_string),
            details: if reason.is_empty() {
                serde_json::json!({})
            } else {
                serde_json::json!({ "reason": reason })
            },
            labels: [("service".to_string(), "osprey".to_string())].into(),
        };
        let batch = Batch {
            security: vec![event],
            ..Batch::default()
        };
        if let Err(e) = ingest.submit(batch).await {
            tracing::warn!(error = %e, kind, "sign-in not recorded as a security event");
        }
    }

    fn limited(&self, keys: &[String], now: i64) -> Option<Duration> {
        let mut failures = self.failures.lock().expect("login limiter lock");
        let window = FAILURE_WINDOW.as_millis() as i64;
        keys.iter()
            .filter_map(|k| {
                let list = failures.get_mut(k)?;
                while list.front().is_some_and(|t| *t <= now - window) {
                    list.pop_front();
                }
                (list.len() >= MAX_FAILURES).then(|| {
                    let free_at = list.front().copied().unwrap_or(now) + window;
                    Duration::from_millis((free_at - now).max(1_000) as u64)
                })
            })
            .max()
    }

    fn fail(&self, keys: &[String], now: i64) {
        let mut failures = self.failures.lock().expect("login limiter lock");
        if failures.len() > 100_000 {
            failures.clear();
        }
        for k in keys {
            failures.entry(k.clone()).or_default().push_back(now);
        }
    }

    /// Checks a password; on success opens a session and returns its token (the cookie value).
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        ip: Option<&str>,
    ) -> Result<(String, UserRow), LoginError> {
        let now = now_ms();
        // What a client typed is kept (audit log, security events, the failure map) only in
        // part: a 2 MB username once grew the database by 2 MB per attempt.
        let shown = typed(username);
        let keys = [
            format!("ip:{}", ip.unwrap_or("?")),
            format!("user:{}", shown.to_lowercase()),
        ];
        if let Some(retry_after) = self.limited(&keys, now) {
            self.record(&shown, "login_blocked", &shown, ip, "rate limited")
                .await;
            // Still a failed attempt: an attacker who keeps trying is still attacking.
            self.report_sign_in("auth_failure", &shown, ip, "rate limited")
                .await;
            return Err(LoginError::RateLimited { retry_after });
        }
        let user = self.store.user_by_name(username).await.ok().flatten();
        let hash = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| decoy_hash().to_string());
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        match user {
            Some(user) if ok && !user.disabled => {
                let token = new_token();
                let session = SessionRow {
                    token_hash: hash_key(&token),
                    user_id: user.id.clone(),
                    created_at: now,
                    expires_at: now + self.session_ttl.as_millis() as i64,
                    ip: ip.map(str::to_string),
                    revoked: false,
                };
                if self.store.put_session(&session).await.is_err() {
                    return Err(LoginError::Invalid);
                }
                self.record(&user.username, "login", &user.username, ip, "")
                    .await;
                self.report_sign_in("auth_success", &user.username, ip, "")
                    .await;
                Ok((token, user))
            }
            _ => {
                self.fail(&keys, now);
                self.record(
                    "anonymous",
                    "login_failed",
                    &shown,
                    ip,
                    "bad username or password",
                )
                .await;
                self.report_sign_in("auth_failure", &shown, ip, "bad username or password")
                    .await;
                Err(LoginError::Invalid)
            }
        }
    }

    /// The person behind a session token, if the session is live.
    pub async fn session(&self, token: &str) -> Option<Principal> {
        let hash = hash_key(token);
        let (_, user) = self.store.live_session(&hash, now_ms()).await.ok()??;
        Some(Principal {
            name: user.username,
            role: Role::parse(&user.role),
            session: Some(hash),
        })
    }

    pub async fn logout(&self, principal: &Principal, ip: Option<&str>) {
        if let Some(hash) = &principal.session {
            let _ = self.store.revoke_session(hash).await;
            self.record(&principal.name, "logout", &principal.name, ip, "")
                .await;
        }
    }

    /// The `Set-Cookie` value that carries a new session.
    pub fn session_cookie(&self, token: &str) -> String {
        format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
            self.session_ttl.as_secs(),
            if self.secure_cookies { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear_cookie(&self) -> String {
        format!(
            "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
            if self.secure_cookies { "; Secure" } else { "" }
        )
    }

    /// Appends to the audit log; a failure to record is logged, never hidden.
    pub async fn record(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        ip: Option<&str>,
        detail: &str,
    ) {
        let entry = AuditEntry {
            ts: now_ms(),
            actor: actor.to_string(),
            action: action.to_string(),
            target: target.to_string(),
            ip: ip.map(str::to_string),
            detail: detail.to_string(),
        };
        if let Err(e) = self.store.audit(&entry).await {
            tracing::error!(error = %e, action, "audit entry not recorded");
        }
    }

    /// Creates a user; the username must be new.
    pub async fn create_user(
        &self,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<UserRow, String> {
        let username = username.trim();
        if username.is_empty()
            || username.chars().count() > 64
            || !username
                .chars()
                .all(|c| c.is_alphanumeric() || "._-@".contains(c))
        {
            return Err("username: 1 to 64 letters, digits or . _ - @".into());
        }
        if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > 1024 {
            return Err(format!(
                "password: at least {MIN_PASSWORD_CHARS} characters"
            ));
        }
        if self
            .store
            .user_by_name(username)
            .await
            .map_err(|e| e.to_string())?
            .is_some()
        {
            return Err(format!("conflict: username {username:?} is taken"));
        }
        let now = now_ms();
        let password = password.to_string();
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| e.to_string())?;
        let user = UserRow {
            id: format!("usr_{}", &new_token()[..16]),
            username: username.to_string(),
            password_hash: hash,
            role: role.as_str().into(),
            disabled: false,
            created_at: now,
            updated_at: now,
        };
        self.store
            .put_user(&user)
            .await
            .map_err(|e| e.to_string())?;
        Ok(user)
    }
}

pub use app::model::UserView;

impl From<UserRow> for UserView {
    fn from(u: UserRow) -> Self {
        UserView {
            id: u.id,
            username: u.username,
            role: u.role,
            disabled: u.disabled,
            created_at: u.created_at,
        }
    }
}

/// What `PATCH /api/v1/users/{id}` may change.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub role: Option<String>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
}

impl Accounts {
    pub async fn users(&self) -> StoreResult<Vec<UserView>> {
        Ok(self
            .store
            .users()
            .await?
            .into_iter()
            .map(UserView::from)
            .collect())
    }

    /// Changes a user's role, password or disabled flag. Any such change signs the user out
    /// everywhere, so a demoted or disabled user keeps no session. Returns what changed, for the
    /// audit log, or `Err` with `field: message`.
    pub async fn update_user(
        &self,
        id: &str,
        patch: UserPatch,
    ) -> Result<(UserView, Vec<String>), String> {
        let mut user = self
            .store
            .user(id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("not found: user {id}"))?;
        let mut changed = Vec::new();
        if let Some(role) = &patch.role {
            let role = Role::parse(role).ok_or("role: expected viewer, editor or admin")?;
            if role.as_str() != user.role {
                changed.push(format!("role.change {} → {}", user.role, role.as_str()));
                user.role = role.as_str().into();
            }
        }
        if let Some(disabled) = patch.disabled.filter(|d| *d != user.disabled) {
            changed.push(if disabled {
                "user.disable".into()
            } else {
                "user.enable".into()
            });
            user.disabled = disabled;
        }
        if let Some(password) = patch.password {
            if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > 1024 {
                return Err(format!(
                    "password: at least {MIN_PASSWORD_CHARS} characters"
                ));
            }
            user.password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
                .await
                .map_err(|e| e.to_string())?;
            changed.push("password.change".into());
        }
        if !changed.is_empty() {
            user.updated_at = now_ms();
            self.store
                .put_user(&user)
                .await
                .map_err(|e| e.to_string())?;
            self.store
                .revoke_sessions_of(&user.id)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok((user.into(), changed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse battery");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("correct horse battery", "not a hash"));
        assert_ne!(hash, hash_password("correct horse battery"), "salted");
    }

    #[test]
    fn roles_include_the_ones_below() {
        let editor = Principal {
            name: "ed".into(),
            role: Some(Role::Editor),
            session: Some("h".into()),
        };
        assert_eq!(editor.require(Role::Viewer), Ok(()));
        assert_eq!(editor.require(Role::Editor), Ok(()));
        assert_eq!(
            editor.require(Role::Admin),
            Err(Denied::Forbidden {
                needed: Role::Admin
            })
        );
        let reader = Principal::anonymous(Some(Role::Viewer));
        assert_eq!(reader.require(Role::Viewer), Ok(()));
        assert_eq!(
            reader.require(Role::Editor),
            Err(Denied::SignIn),
            "anonymous readers are asked to sign in"
        );
        assert_eq!(
            Principal::anonymous(None).require(Role::Viewer),
            Err(Denied::SignIn)
        );
    }
}
