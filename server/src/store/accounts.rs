//! Storage of people: users with their password hashes and roles, sessions (kept by the hash of
//! their token only), and the audit log.

use super::StoreResult;
use async_trait::async_trait;

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    /// argon2id in PHC string format.
    pub password_hash: String,
    /// `viewer`, `editor` or `admin`.
    pub role: String,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A session as stored: the SHA-256 of the cookie value, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub token_hash: String,
    pub user_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub revoked: bool,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub ts: i64,
    /// A username, `token osp_admin_…`, or `anonymous` for failed sign-ins.
    pub actor: String,
    /// `login`, `login_failed`, `logout`, `user.create`, `rule.update`…
    pub action: String,
    pub target: String,
    pub ip: Option<String>,
    pub detail: String,
}

/// A credential as listed: never the key or its hash, beyond a short id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub hash: String,
    pub prefix: String,
    /// `ingest`, `read` or `admin`.
    pub kind: String,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Stores a new key with its name.
    async fn put_named_key(&self, key: &super::ApiKey, name: &str, now: i64) -> StoreResult<()>;
    /// Every key, newest first.
    async fn keys(&self) -> StoreResult<Vec<KeyRow>>;
    /// Revokes the key whose hash starts with `hash_prefix` (16 hex digits); false if none is live.
    async fn revoke_key(&self, hash_prefix: &str, now: i64) -> StoreResult<Option<KeyRow>>;
    /// Records that a key was used.
    async fn touch_key(&self, hash: &str, now: i64) -> StoreResult<()>;

    /// Inserts a user or replaces the one with the same id.
    async fn put_user(&self, user: &UserRow) -> StoreResult<()>;
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRow>>;
    async fn user(&self, id: &str) -> StoreResult<Option<UserRow>>;
    /// Every user, by name.
    async fn users(&self) -> StoreResult<Vec<UserRow>>;

    async fn put_session(&self, session: &SessionRow) -> StoreResult<()>;
    /// A session that exists, is not revoked and has not expired at `now`, with its user.
    async fn live_session(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<(SessionRow, UserRow)>>;
    async fn revoke_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Revokes every session of a user (password or role change, disabling).
    async fn revoke_sessions_of(&self, user_id: &str) -> StoreResult<u64>;

    async fn audit(&self, entry: &AuditEntry) -> StoreResult<()>;
    /// Entries with `ts >= from`, newest first.
    async fn audit_log(&self, from: i64, limit: u32) -> StoreResult<Vec<AuditEntry>>;
}

/// Writes `impl AccountStore for $store` over pools `$writer` and `$reader` of `$db`.
macro_rules! account_store {
    ($store:ty, $db:ty, $writer:ident, $reader:ident) => {
        const _: () = {
            use crate::store::accounts::*;
            use crate::store::StoreResult;
            use sqlx::Row;

            const USER_COLUMNS: &str =
                "id, username, password_hash, role, disabled, created_at, updated_at";

            fn user_row(row: &<$db as sqlx::Database>::Row, at: usize) -> StoreResult<UserRow> {
                Ok(UserRow {
                    id: row.try_get(at)?,
                    username: row.try_get(at + 1)?,
                    password_hash: row.try_get(at + 2)?,
                    role: row.try_get(at + 3)?,
                    disabled: row.try_get::<i64, _>(at + 4)? != 0,
                    created_at: row.try_get(at + 5)?,
                    updated_at: row.try_get(at + 6)?,
                })
            }

            fn key_row(r: &<$db as sqlx::Database>::Row) -> StoreResult<KeyRow> {
                Ok(KeyRow {
                    hash: r.try_get(0)?,
                    prefix: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    name: r.try_get(3)?,
                    created_at: r.try_get(4)?,
                    revoked_at: r.try_get(5)?,
                    last_used_at: r.try_get(6)?,
                })
            }

            const KEY_COLUMNS: &str = "hash, prefix, kind, name, created_at, revoked_at, last_used_at";

            #[async_trait::async_trait]
            impl AccountStore for $store {
                async fn put_named_key(&self, key: &crate::store::ApiKey, name: &str, now: i64) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO api_keys (hash, prefix, kind, project, created_at, name) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&key.hash)
                    .bind(&key.prefix)
                    .bind(key.kind.as_str())
                    .bind(&key.project)
                    .bind(now)
                    .bind(name)
                    .execute(&self.$writer)
                    .await?;
                    Ok(())
                }

                async fn keys(&self) -> StoreResult<Vec<KeyRow>> {
                    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, hash");
                    let rows = sqlx::query(&sql).fetch_all(&self.$reader).await?;
                    rows.iter().map(key_row).collect()
                }

                async fn revoke_key(&self, hash_prefix: &str, now: i64) -> StoreResult<Option<KeyRow>> {
                    if hash_prefix.len() != 16 || !hash_prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Ok(None);
                    }
                    let sql = format!(
                        "SELECT {KEY_COLUMNS} FROM api_keys WHERE substr(hash, 1, 16) = $1 AND revoked_at IS NULL"
                    );
                    let Some(row) = sqlx::query(&sql).bind(hash_prefix).fetch_optional(&self.$writer).await? else {
                        return Ok(None);
                    };
                    let mut key = key_row(&row)?;
                    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE hash = $2")
                        .bind(now)
                        .bind(&key.hash)
                        .execute(&self.$writer)
                        .await?;
                    key.revoked_at = Some(now);
                    Ok(Some(key))
                }

                async fn touch_key(&self, hash: &str, now: i64) -> StoreResult<()> {
                    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE hash = $2")
                        .bind(now)
                        .bind(hash)
                        .execute(&self.$writer)
                        .await?;
                    Ok(())
                }

                async fn put_user(&self, u: &UserRow) -> StoreResult<()> {
                    sqlx::query(concat!(
                        "INSERT INTO users (id, username, password_hash, role, disabled, created_at, updated_at) ",
                        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET ",
                        "username = excluded.username, password_hash = excluded.password_hash, ",
                        "role = excluded.role, disabled = excluded.disabled, updated_at = excluded.updated_at"
                    ))
                    .bind(&u.id)
                    .bind(&u.username)
                    .bind(&u.password_hash)
                    .bind(&u.role)
                    .bind(i64::from(u.disabled))
                    .bind(u.created_at)
                    .bind(u.updated_at)
                    .execute(&self.$writer)
                    .await?;
                    Ok(())
                }

                async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRow>> {
                    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
                    let row = sqlx::query(&sql).bind(username).fetch_optional(&self.$reader).await?;
                    row.map(|r| user_row(&r, 0)).transpose()
                }

                async fn user(&self, id: &str) -> StoreResult<Option<UserRow>> {
                    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
                    let row = sqlx::query(&sql).bind(id).fetch_optional(&self.$reader).await?;
                    row.map(|r| user_row(&r, 0)).transpose()
                }

                async fn users(&self) -> StoreResult<Vec<UserRow>> {
                    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
                    let rows = sqlx::query(&sql).fetch_all(&self.$reader).await?;
                    rows.iter().map(|r| user_row(r, 0)).collect()
                }

                async fn put_session(&self, s: &SessionRow) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, ip, revoked) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&s.token_hash)
                    .bind(&s.user_id)
                    .bind(s.created_at)
                    .bind(s.expires_at)
                    .bind(&s.ip)
                    .bind(i64::from(s.revoked))
                    .execute(&self.$writer)
                    .await?;
                    Ok(())
                }

                async fn live_session(
                    &self,
                    token_hash: &str,
                    now: i64,
                ) -> StoreResult<Option<(SessionRow, UserRow)>> {
                    let sql = format!(
                        "SELECT s.token_hash, s.user_id, s.created_at, s.expires_at, s.ip, s.revoked, \
                         u.{} FROM sessions s JOIN users u ON u.id = s.user_id \
                         WHERE s.token_hash = $1 AND s.revoked = 0 AND s.expires_at > $2 AND u.disabled = 0",
                        USER_COLUMNS.replace(", ", ", u.")
                    );
                    let row = sqlx::query(&sql)
                        .bind(token_hash)
                        .bind(now)
                        .fetch_optional(&self.$writer)
                        .await?;
                    let Some(r) = row else { return Ok(None) };
                    let session = SessionRow {
                        token_hash: r.try_get(0)?,
                        user_id: r.try_get(1)?,
                        created_at: r.try_get(2)?,
                        expires_at: r.try_get(3)?,
                        ip: r.try_get(4)?,
                        revoked: r.try_get::<i64, _>(5)? != 0,
                    };
                    Ok(Some((session, user_row(&r, 6)?)))
                }

                async fn revoke_session(&self, token_hash: &str) -> StoreResult<()> {
                    sqlx::query("UPDATE sessions SET revoked = 1 WHERE token_hash = $1")
                        .bind(token_hash)
                        .execute(&self.$writer)
                        .await?;
                    Ok(())
                }

                async fn revoke_sessions_of(&self, user_id: &str) -> StoreResult<u64> {
                    Ok(sqlx::query("UPDATE sessions SET revoked = 1 WHERE user_id = $1 AND revoked = 0")
                        .bind(user_id)
                        .execute(&self.$writer)
                        .await?
                        .rows_affected())
                }

                async fn audit(&self, e: &AuditEntry) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO audit_log (ts, actor, action, target, ip, detail) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(e.ts)
                    .bind(&e.actor)
                    .bind(&e.action)
                    .bind(&e.target)
                    .bind(&e.ip)
                    .bind(&e.detail)
                    .execute(&self.$writer)
                    .await?;
                    Ok(())
                }

                async fn audit_log(&self, from: i64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
                    let rows = sqlx::query(
                        "SELECT ts, actor, action, target, ip, detail FROM audit_log \
                         WHERE ts >= $1 ORDER BY ts DESC, id DESC LIMIT $2",
                    )
                    .bind(from)
                    .bind(i64::from(limit))
                    .fetch_all(&self.$reader)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            Ok(AuditEntry {
                                ts: r.try_get(0)?,
                                actor: r.try_get(1)?,
                                action: r.try_get(2)?,
                                target: r.try_get(3)?,
                                ip: r.try_get(4)?,
                                detail: r.try_get(5)?,
                            })
                        })
                        .collect()
                }
            }
        };
    };
}

pub(crate) use account_store;
