//! Credentials: ingest keys and admin tokens, stored only as SHA-256 hashes.

use crate::config::Config;
use crate::store::{ApiKey, KeyKind, KeyRow, Store, StoreResult};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The project every key belongs to until projects exist.
pub const DEFAULT_PROJECT: &str = "default";

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn generate(kind: KeyKind) -> String {
    let mut bytes = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut bytes);
    let prefix = match kind {
        KeyKind::Ingest => "osp_ingest_",
        KeyKind::Read => "osp_read_",
        KeyKind::Admin => "osp_admin_",
    };
    format!("{prefix}{}", hex::encode(bytes))
}

fn record(key: &str, kind: KeyKind) -> ApiKey {
    ApiKey {
        hash: hash_key(key),
        prefix: key.chars().take(14).collect(),
        kind,
        project: DEFAULT_PROJECT.into(),
    }
}

/// Keys created on this start, to print once.
#[derive(Debug, Default)]
pub struct NewKeys {
    pub ingest: Option<String>,
    pub admin: Option<String>,
    /// The first admin's generated password (user `admin`).
    pub admin_password: Option<String>,
}

/// Registers the configured keys; creates missing ones on first start.
pub async fn bootstrap(store: &dyn Store, config: &Config) -> StoreResult<NewKeys> {
    let mut created = NewKeys::default();
    for (kind, configured, slot) in [
        (
            KeyKind::Ingest,
            &config.auth.ingest_key,
            &mut created.ingest,
        ),
        (KeyKind::Admin, &config.auth.admin_token, &mut created.admin),
    ] {
        match configured {
            Some(secret) => store.put_key(&record(secret.expose(), kind)).await?,
            None if !store.has_key(kind).await? => {
                let key = generate(kind);
                store.put_key(&record(&key, kind)).await?;
                *slot = Some(key);
            }
            None => {}
        }
    }
    Ok(created)
}

/// How long a checked key is trusted from memory before the store is asked again, so a key
/// revoked by another process stops working within this time (at once in this one).
const KEY_CACHE_TTL: Duration = Duration::from_secs(30);
/// Last-used times are written at most this often per key.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

struct Known {
    key: ApiKey,
    checked: Instant,
    touched: Instant,
}

/// Checks presented keys against the store, remembering the good ones for a short while.
pub struct KeyRing {
    store: Arc<dyn Store>,
    known: RwLock<HashMap<String, Known>>,
}

impl KeyRing {
    pub fn new(store: Arc<dyn Store>) -> Self {
        KeyRing {
            store,
            known: RwLock::new(HashMap::new()),
        }
    }

    /// The live stored key matching `presented`, if any; records its use.
    pub async fn check(&self, presented: &str) -> StoreResult<Option<ApiKey>> {
        let hash = hash_key(presented);
        let now = Instant::now();
        let cached = self
            .known
            .read()
            .expect("key ring lock")
            .get(&hash)
            .and_then(|k| {
                (now.duration_since(k.checked) < KEY_CACHE_TTL)
                    .then(|| (k.key.clone(), now.duration_since(k.touched) >= TOUCH_EVERY))
            });
        let from_cache = cached.is_some();
        let (found, touch) = match cached {
            Some((key, touch)) => (Some(key), touch),
            None => (self.store.find_key(&hash).await?, true),
        };
        let mut known = self.known.write().expect("key ring lock");
        match &found {
            Some(k) => {
                if known.len() > 10_000 {
                    known.clear();
                }
                let entry = known.entry(hash.clone()).or_insert_with(|| Known {
                    key: k.clone(),
                    checked: now,
                    touched: now,
                });
                if !from_cache {
                    entry.checked = now;
                }
                if touch {
                    entry.touched = now;
                }
            }
            None => {
                known.remove(&hash);
            }
        }
        drop(known);
        if found.is_some() && touch {
            let store = self.store.clone();
            tokio::spawn(async move {
                let _ = store
                    .touch_key(&hash, chrono::Utc::now().timestamp_millis())
                    .await;
            });
        }
        Ok(found)
    }

    /// Forgets a revoked key at once.
    pub fn forget(&self, hash: &str) {
        self.known.write().expect("key ring lock").remove(hash);
    }
}

pub use app::model::KeyView;

impl From<KeyRow> for KeyView {
    fn from(k: KeyRow) -> Self {
        KeyView {
            id: k.hash[..16].to_string(),
            name: k.name,
            prefix: k.prefix,
            scope: k.kind,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// Osprey's pages once reported their own errors and web vitals with an ingest key printed in
/// every page, `/login` included, which anyone could copy and send with. They now send with the
/// reader's session instead (see `http::ingest`); a key made for them earlier is revoked and
/// forgotten at start-up. Returns whether there was one.
pub async fn retire_dashboard_key(store: &dyn Store) -> StoreResult<bool> {
    use crate::store::alerting::kinds;
    const ID: &str = "dashboard_ingest_key";
    let Some(doc) = store.document(kinds::SETTING, ID).await? else {
        return Ok(false);
    };
    if let Some(key) = doc.body["key"].as_str() {
        let now = chrono::Utc::now().timestamp_millis();
        store.revoke_key(&hash_key(key)[..16], now).await?;
    }
    store.delete_document(kinds::SETTING, ID).await?;
    Ok(true)
}

/// Creates a key of `kind`; returns its listing and the key itself, to show once.
pub async fn create_key(
    store: &dyn Store,
    kind: KeyKind,
    name: &str,
) -> StoreResult<(KeyView, String)> {
    let key = generate(kind);
    let row = record(&key, kind);
    let now = chrono::Utc::now().timestamp_millis();
    store.put_named_key(&row, name, now).await?;
    let view = KeyView {
        id: row.hash[..16].to_string(),
        name: name.to_string(),
        prefix: row.prefix,
        scope: kind.as_str().into(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    Ok((view, key))
}
