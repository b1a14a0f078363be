//! Credentials: ingest keys and admin tokens, stored only as SHA-256 hashes.

use crate::config::Config;
use crate::store::{ApiKey, KeyKind, Store, StoreResult};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

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

/// Checks presented keys against the store, remembering the good ones.
pub struct KeyRing {
    store: Arc<dyn Store>,
    known: RwLock<HashMap<String, ApiKey>>,
}

impl KeyRing {
    pub fn new(store: Arc<dyn Store>) -> Self {
        KeyRing {
            store,
            known: RwLock::new(HashMap::new()),
        }
    }

    /// The stored key matching `presented`, if any.
    pub async fn check(&self, presented: &str) -> StoreResult<Option<ApiKey>> {
        let hash = hash_key(presented);
        if let Some(k) = self.known.read().expect("key ring lock").get(&hash) {
            return Ok(Some(k.clone()));
        }
        let found = self.store.find_key(&hash).await?;
        if let Some(k) = &found {
            let mut known = self.known.write().expect("key ring lock");
            if known.len() > 10_000 {
                known.clear();
            }
            known.insert(hash, k.clone());
        }
        Ok(found)
    }
}
