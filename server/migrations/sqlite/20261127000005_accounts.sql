-- People who sign in, their sessions, and the audit log.

CREATE TABLE users (
    id            TEXT    PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    -- argon2id, PHC string format
    password_hash TEXT    NOT NULL,
    -- viewer, editor or admin
    role          TEXT    NOT NULL,
    disabled      INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- A session is known by the SHA-256 of its cookie value; the value itself is never stored.
CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ip         TEXT,
    revoked    INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Who did what, when, from where.
CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    ts     INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    target TEXT    NOT NULL,
    ip     TEXT,
    detail TEXT    NOT NULL
);
CREATE INDEX audit_log_ts ON audit_log (ts);
