//! Helpers shared by the integration tests.
#![allow(dead_code)]

use osprey::config::{Config, Secret};
use osprey::store::{PgStore, SqliteStore, Store};
use std::sync::Arc;

pub const INGEST_KEY: &str = "test-ingest-key";

/// Defaults with a known ingest key and an in-directory SQLite database.
pub fn config(dir: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.auth.ingest_key = Some(Secret::new(INGEST_KEY));
    c.auth.admin_token = Some(Secret::new("test-admin-token"));
    c.storage.database_url = format!("sqlite://{}", dir.join("osprey.db").display());
    // Tests read without signing in unless they test signing in (tests/auth.rs).
    c.auth.anonymous_read = true;
    c.auth.admin_password = Some(Secret::new("test-admin-password"));
    c
}

pub async fn sqlite(dir: &std::path::Path, max_series: usize) -> Arc<dyn Store> {
    let url = format!("sqlite://{}", dir.join("osprey.db").display());
    Arc::new(
        SqliteStore::open(&url, 2, max_series)
            .await
            .expect("open sqlite"),
    )
}

/// A PostgreSQL store in a schema of its own, or `None` (with a note) when
/// `OSPREY_TEST_POSTGRES_URL` is unset. `make test` always sets it.
pub async fn postgres(max_series: usize) -> Option<(Arc<dyn Store>, PgSchema)> {
    let Ok(url) = std::env::var("OSPREY_TEST_POSTGRES_URL") else {
        eprintln!("OSPREY_TEST_POSTGRES_URL is unset: skipping the PostgreSQL case");
        return None;
    };
    let schema = format!("osprey_test_{:016x}", rand_u64());
    let store = PgStore::open(&url, 4, max_series, Some(&schema))
        .await
        .expect("open postgres");
    Some((Arc::new(store), PgSchema { url, name: schema }))
}

/// Drops the test's schema when the test ends, even on failure.
pub struct PgSchema {
    url: String,
    name: String,
}

impl PgSchema {
    /// Opens another store on the same schema (as a restarted process would).
    pub async fn reopen(&self, max_series: usize) -> Arc<dyn Store> {
        Arc::new(
            PgStore::open(&self.url, 4, max_series, Some(&self.name))
                .await
                .expect("reopen postgres"),
        )
    }

    /// A plain connection to the schema, for setting up what a store would not write.
    pub async fn connect(&self) -> sqlx::PgPool {
        let options: sqlx::postgres::PgConnectOptions = self.url.parse().expect("postgres url");
        sqlx::PgPool::connect_with(options.options([("search_path", self.name.as_str())]))
            .await
            .expect("connect postgres")
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drop runs inside the test's runtime; a fresh thread with its own runtime does the I/O.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .execute(&pool)
                        .await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

pub fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
