//! Embed tokens: signed, expiring, revocable grants to show some panels of one dashboard inside
//! other sites' iframes, optionally with some variables locked, to a list of allowed origins.
//!
//! A token is `oe1.<id>.<expires_at ms>.<HMAC-SHA256 hex>`, signed with a key kept in the
//! Store (so every Osprey process on one database accepts the others' tokens). The signature
//! and the expiry are checked before anything is read; the grant itself (panels, variables,
//! origins, revocation) is a document of kind `embed_token`, read on every use, so revoking
//! takes effect at once. Because the token is a function of the grant and the key, an editor
//! can see an embed's snippet again later; nothing has to be shown only once.

use crate::dashboards::{DashboardError, Dashboards, StoredDashboard};
use crate::store::{Document, Store, StoreError};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// The document kind grants are stored under.
pub const KIND: &str = "embed_token";
const KEY_KIND: &str = "secret";
const KEY_ID: &str = "embed_signing_key";
const PREFIX: &str = "oe1";
/// Grants kept at most; expired and revoked ones are dropped first to make room.
pub const MAX_TOKENS: usize = 1_000;
const MAX_PANELS: usize = 100;
const MAX_ORIGINS: usize = 20;
const MAX_LIFETIME_MS: i64 = 400 * 86_400_000;
const MIN_LIFETIME_MS: i64 = 1_000;

/// What an embed may show: panels of one dashboard, variables fixed by the grant, the sites
/// that may frame it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedGrant {
    pub id: String,
    pub dashboard: String,
    pub panels: Vec<String>,
    /// Variables the host page cannot change.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Origins allowed to frame the embed (`frame-ancestors`).
    #[serde(default)]
    pub origins: Vec<String>,
    pub expires_at: i64,
    pub created_by: String,
    pub created_at: i64,
    #[serde(default)]
    pub revoked_at: Option<i64>,
}

/// What a client asks for (`POST /api/v1/embed-tokens`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedRequest {
    pub panels: Vec<String>,
    /// `1h`, `7d`…; a day when absent.
    #[serde(default)]
    pub expires_in: Option<String>,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// The dashboard; found from the panels when absent.
    #[serde(default)]
    pub dashboard: Option<String>,
    /// Origins that may frame it; the configured `embed.allowed_origins` when absent.
    #[serde(default)]
    pub origins: Option<Vec<String>>,
}

/// A grant and its token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IssuedEmbed {
    #[serde(flatten)]
    pub grant: EmbedGrant,
    pub token: String,
    /// Where the embed is: `/embed/panel/{id}?token=…` or `/embed/dashboard/{id}?panels=…&token=…`.
    pub url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("this is not a valid Osprey embed token")]
    BadToken,
    #[error("this embed link expired on {}", crate::embeds::utc(*.at))]
    Expired { at: i64, origins: Vec<String> },
    #[error("this embed link was revoked on {}", crate::embeds::utc(*.at))]
    Revoked { at: i64, origins: Vec<String> },
    #[error("this embed link does not include {0}")]
    OutOfScope(String),
    #[error("embed token {0} not found")]
    NotFound(String),
    #[error("the limit of {MAX_TOKENS} embed tokens is reached; revoke some")]
    Full,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl EmbedError {
    /// The origins that may frame the page that explains this error (the grant's own when the
    /// token was genuine, so the host page can show why its embed stopped).
    pub fn origins(&self) -> &[String] {
        match self {
            EmbedError::Expired { origins, .. } | EmbedError::Revoked { origins, .. } => origins,
            _ => &[],
        }
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> EmbedError {
    EmbedError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

pub(crate) fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// `scheme://host[:port]` with scheme http or https, nothing after: what `frame-ancestors`
/// takes as one origin.
pub fn check_origin(origin: &str) -> Result<String, String> {
    let o = origin.trim().trim_end_matches('/');
    let rest = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))
        .ok_or_else(|| format!("{origin:?}: an origin starts with https:// or http://"))?;
    let ok = !rest.is_empty()
        && rest.len() <= 253
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        && !rest.starts_with([':', '.']);
    if !ok {
        return Err(format!(
            "{origin:?}: expected scheme://host[:port] with no path"
        ));
    }
    Ok(o.to_ascii_lowercase())
}

type HmacSha256 = Hmac<Sha256>;

/// Embed grants through the Store.
#[derive(Clone)]
pub struct Embeds {
    store: Arc<dyn Store>,
    dashboards: Dashboards,
    /// Origins an embed may name; any when empty.
    allowed: Arc<Vec<String>>,
    key: Arc<RwLock<Option<Vec<u8>>>>,
}

impl Embeds {
    pub fn new(store: Arc<dyn Store>, allowed_origins: Vec<String>) -> Self {
        Embeds {
            dashboards: Dashboards::new(store.clone()),
            store,
            allowed: Arc::new(
                allowed_origins
                    .iter()
                    .filter_map(|o| check_origin(o).ok())
                    .collect(),
            ),
            key: Arc::default(),
        }
    }

    /// The origins the configuration allows (`embed.allowed_origins`).
    pub fn allowed_origins(&self) -> &[String] {
        &self.allowed
    }

    /// Validates a request against its dashboard and stores the grant.
    pub async fn create(
        &self,
        req: EmbedRequest,
        actor: &str,
        now: i64,
    ) -> Result<IssuedEmbed, EmbedError> {
        if req.panels.is_empty() || req.panels.len() > MAX_PANELS {
            return Err(invalid("panels", format!("1 to {MAX_PANELS} panel ids")));
        }
        let lifetime = match req.expires_in.as_deref() {
            None => 86_400_000,
            Some(text) => crate::config::parse_duration(text)
                .map(|d| d.as_millis() as i64)
                .filter(|ms| (MIN_LIFETIME_MS..=MAX_LIFETIME_MS).contains(ms))
                .ok_or_else(|| {
                    invalid("expires_in", "a duration from 1s to 400d, like 1h or 30d")
                })?,
        };
        let dashboard = self.dashboard_of(&req).await?;
        for (i, p) in req.panels.iter().enumerate() {
            if !dashboard.dashboard.panels.iter().any(|q| &q.id == p) {
                return Err(invalid(
                    format!("panels[{i}]"),
                    format!("{p:?} is not a panel of dashboard {}", dashboard.id),
                ));
            }
        }
        for (name, value) in &req.vars {
            if !dashboard
                .dashboard
                .variables
                .iter()
                .any(|v| &v.name == name)
            {
                return Err(invalid(
                    format!("vars.{name}"),
                    "not a variable of this dashboard",
                ));
            }
            if value.len() > 256 || value.chars().any(char::is_control) {
                return Err(invalid(
                    format!("vars.{name}"),
                    "at most 256 bytes, no control characters",
                ));
            }
        }
        let origins = match req.origins {
            None => self.allowed.to_vec(),
            Some(list) => {
                if list.len() > MAX_ORIGINS {
                    return Err(invalid("origins", format!("at most {MAX_ORIGINS}")));
                }
                let mut out = Vec::with_capacity(list.len());
                for (i, o) in list.iter().enumerate() {
                    let o = check_origin(o).map_err(|m| invalid(format!("origins[{i}]"), m))?;
                    if !self.allowed.is_empty() && !self.allowed.contains(&o) {
                        return Err(invalid(
                            format!("origins[{i}]"),
                            format!("{o} is not in embed.allowed_origins"),
                        ));
                    }
                    out.push(o);
                }
                out
            }
        };
        self.make_room(now).await?;
        let mut panels = req.panels;
        panels.dedup();
        let grant = EmbedGrant {
            id: new_id(),
            dashboard: dashboard.id,
            panels,
            vars: req.vars,
            origins,
            expires_at: now + lifetime,
            created_by: actor.to_string(),
            created_at: now,
            revoked_at: None,
        };
        self.put(&grant, now).await?;
        self.issue(grant).await
    }

    /// The dashboard a request names, or the one holding its first panel.
    async fn dashboard_of(&self, req: &EmbedRequest) -> Result<StoredDashboard, EmbedError> {
        let not_found = |e: DashboardError| match e {
            DashboardError::NotFound(id) => invalid("dashboard", format!("no dashboard {id}")),
            DashboardError::Store(s) => EmbedError::Store(s),
            other => invalid("dashboard", other.to_string()),
        };
        if let Some(id) = &req.dashboard {
            return self.dashboards.get(id).await.map_err(not_found);
        }
        let first = &req.panels[0];
        for doc in self.store.documents(crate::dashboards::KIND).await? {
            let d = self.dashboards.get(&doc.id).await.map_err(not_found)?;
            if d.dashboard.panels.iter().any(|p| &p.id == first) {
                return Ok(d);
            }
        }
        Err(invalid(
            "panels[0]",
            format!("no dashboard has panel {first:?}"),
        ))
    }

    /// When full, forgets grants that expired or were revoked (until then they are kept, so an
    /// embed can say why it stopped); refuses when still full.
    async fn make_room(&self, now: i64) -> Result<(), EmbedError> {
        if self.store.document_stats(KIND).await?.count < MAX_TOKENS as i64 {
            return Ok(());
        }
        for g in self.grants().await? {
            if g.revoked_at.is_some() || g.expires_at <= now {
                self.store.delete_document(KIND, &g.id).await?;
            }
        }
        if self.store.document_stats(KIND).await?.count >= MAX_TOKENS as i64 {
            return Err(EmbedError::Full);
        }
        Ok(())
    }

    async fn put(&self, grant: &EmbedGrant, now: i64) -> Result<(), EmbedError> {
        let doc = Document {
            kind: KIND,
            id: grant.id.clone(),
            name: grant.dashboard.clone(),
            body: serde_json::to_value(grant).expect("grants serialise"),
            created_at: grant.created_at,
            updated_at: now,
        };
        self.store.put_document(&doc).await?;
        Ok(())
    }

    /// Every grant, newest first.
    pub async fn grants(&self) -> Result<Vec<EmbedGrant>, EmbedError> {
        let mut list = self
            .store
            .documents(KIND)
            .await?
            .into_iter()
            .filter_map(|d| serde_json::from_value::<EmbedGrant>(d.body).ok())
            .collect::<Vec<_>>();
        list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        Ok(list)
    }

    /// The grants of one dashboard with their tokens, newest first.
    pub async fn issued_for(&self, dashboard: &str) -> Result<Vec<IssuedEmbed>, EmbedError> {
        let mut out = Vec::new();
        for g in self.grants().await? {
            if g.dashboard == dashboard {
                out.push(self.issue(g).await?);
            }
        }
        Ok(out)
    }

    /// Revokes grant `id`; its token stops working at once. Revoking twice is not an error.
    pub async fn revoke(&self, id: &str, now: i64) -> Result<EmbedGrant, EmbedError> {
        let mut grant = self.grant(id).await?;
        if grant.revoked_at.is_none() {
            grant.revoked_at = Some(now);
            self.put(&grant, now).await?;
        }
        Ok(grant)
    }

    async fn grant(&self, id: &str) -> Result<EmbedGrant, EmbedError> {
        let doc = self
            .store
            .document(KIND, id)
            .await?
            .ok_or_else(|| EmbedError::NotFound(id.to_string()))?;
        serde_json::from_value(doc.body).map_err(|_| EmbedError::NotFound(id.to_string()))
    }

    /// The grant a token stands for, if it is genuine, unexpired and not revoked.
    pub async fn open(&self, token: &str, now: i64) -> Result<EmbedGrant, EmbedError> {
        let mut parts = token.split('.');
        let (Some(PREFIX), Some(id), Some(exp), Some(sig), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(EmbedError::BadToken);
        };
        let expires_at: i64 = exp.parse().map_err(|_| EmbedError::BadToken)?;
        let sig = hex::decode(sig).map_err(|_| EmbedError::BadToken)?;
        if !self.verify(id, expires_at, &sig).await? {
            return Err(EmbedError::BadToken);
        }
        let grant = match self.grant(id).await {
            Err(EmbedError::NotFound(_)) => return Err(EmbedError::BadToken),
            other => other?,
        };
        if grant.expires_at != expires_at {
            return Err(EmbedError::BadToken);
        }
        if let Some(at) = grant.revoked_at {
            return Err(EmbedError::Revoked {
                at,
                origins: grant.origins,
            });
        }
        if now >= grant.expires_at {
            return Err(EmbedError::Expired {
                at: grant.expires_at,
                origins: grant.origins,
            });
        }
        Ok(grant)
    }

    async fn issue(&self, grant: EmbedGrant) -> Result<IssuedEmbed, EmbedError> {
        let key = self.key(false).await?;
        let token = format!(
            "{PREFIX}.{}.{}.{}",
            grant.id,
            grant.expires_at,
            hex::encode(sign(&key, &grant.id, grant.expires_at))
        );
        let url = match grant.panels.as_slice() {
            [one] => format!("/embed/panel/{one}?token={token}"),
            many => format!(
                "/embed/dashboard/{}?panels={}&token={token}",
                grant.dashboard,
                many.join(",")
            ),
        };
        Ok(IssuedEmbed { grant, token, url })
    }

    /// Checks a signature; when it fails with the cached key, the key is read again once (another
    /// process may have created the stored one first).
    async fn verify(&self, id: &str, expires_at: i64, sig: &[u8]) -> Result<bool, EmbedError> {
        for reload in [false, true] {
            let key = self.key(reload).await?;
            let mut mac = HmacSha256::new_from_slice(&key).expect("any key length");
            mac.update(signed_text(id, expires_at).as_bytes());
            if mac.verify_slice(sig).is_ok() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The signing key: cached, else read from the Store, else made and stored.
    async fn key(&self, reload: bool) -> Result<Vec<u8>, EmbedError> {
        if !reload {
            if let Some(k) = self.key.read().expect("key lock").clone() {
                return Ok(k);
            }
        }
        let stored = |doc: Option<Document>| {
            doc.and_then(|d| {
                d.body
                    .get("key")
                    .and_then(|k| k.as_str())
                    .and_then(|k| hex::decode(k).ok())
            })
            .filter(|k| k.len() >= 32)
        };
        let key = match stored(self.store.document(KEY_KIND, KEY_ID).await?) {
            Some(k) => k,
            None => {
                use rand::RngCore;
                let mut k = vec![0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut k);
                let now = chrono::Utc::now().timestamp_millis();
                self.store
                    .put_document(&Document {
                        kind: KEY_KIND,
                        id: KEY_ID.into(),
                        name: "embed token signing key".into(),
                        body: serde_json::json!({ "key": hex::encode(&k) }),
                        created_at: now,
                        updated_at: now,
                    })
                    .await?;
                // Whichever process wrote last holds the key everyone uses.
                stored(self.store.document(KEY_KIND, KEY_ID).await?).unwrap_or(k)
            }
        };
        *self.key.write().expect("key lock") = Some(key.clone());
        Ok(key)
    }
}

fn signed_text(id: &str, expires_at: i64) -> String {
    format!("{PREFIX}.{id}.{expires_at}")
}

fn sign(key: &[u8], id: &str, expires_at: i64) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
    mac.update(signed_text(id, expires_at).as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn new_id() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("em_{n:016x}")
}

/// The `frame-ancestors` source list for an embed allowed to `origins`: this site, and them.
pub fn frame_ancestors(origins: &[String]) -> String {
    let mut list = String::from("'self'");
    for o in origins {
        // Origins were checked when the grant was made; a stored one that is not safe to put
        // in a header is left out rather than trusted.
        if check_origin(o).is_ok() {
            list.push(' ');
            list.push_str(o);
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert_eq!(
            check_origin("https://Example.com/").unwrap(),
            "https://example.com"
        );
        assert_eq!(
            check_origin("http://127.0.0.1:4000").unwrap(),
            "http://127.0.0.1:4000"
        );
        for bad in [
            "example.com",
            "ftp://example.com",
            "https://example.com/path",
            "https://a.com; script-src *",
            "https://",
            "https://a.com'",
            "javascript:alert(1)",
        ] {
            assert!(check_origin(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn frame_ancestors_lists_this_site_and_the_origins() {
        assert_eq!(frame_ancestors(&[]), "'self'");
        assert_eq!(
            frame_ancestors(&["https://a.example".into(), "bad; x".into()]),
            "'self' https://a.example"
        );
    }

    #[test]
    fn a_signature_covers_id_and_expiry() {
        let key = [7u8; 32];
        let sig = sign(&key, "em_1", 1000);
        assert_ne!(sig, sign(&key, "em_1", 1001));
        assert_ne!(sig, sign(&key, "em_2", 1000));
        assert_ne!(sig, sign(&[8u8; 32], "em_1", 1000));
    }
}
