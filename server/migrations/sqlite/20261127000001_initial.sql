-- Osprey's first schema on SQLite. Times are unix milliseconds.

CREATE TABLE series (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    labels     TEXT    NOT NULL, -- canonical JSON object, keys sorted
    kind       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (name, labels)
);

CREATE TABLE samples (
    series_id INTEGER NOT NULL,
    ts        INTEGER NOT NULL,
    value     REAL    NOT NULL
);
CREATE INDEX samples_series_ts ON samples (series_id, ts);
CREATE INDEX samples_ts ON samples (ts);

CREATE TABLE rollup_1m (
    series_id INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    sum       REAL    NOT NULL,
    min       REAL    NOT NULL,
    max       REAL    NOT NULL,
    last      REAL    NOT NULL,
    last_ts   INTEGER NOT NULL,
    PRIMARY KEY (series_id, bucket)
) WITHOUT ROWID;
CREATE INDEX rollup_1m_bucket ON rollup_1m (bucket);

CREATE TABLE rollup_1h (
    series_id INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    sum       REAL    NOT NULL,
    min       REAL    NOT NULL,
    max       REAL    NOT NULL,
    last      REAL    NOT NULL,
    last_ts   INTEGER NOT NULL,
    PRIMARY KEY (series_id, bucket)
) WITHOUT ROWID;
CREATE INDEX rollup_1h_bucket ON rollup_1h (bucket);

CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    ts         INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    properties TEXT    NOT NULL,
    labels     TEXT    NOT NULL
);
CREATE INDEX events_ts ON events (ts);
CREATE INDEX events_name_ts ON events (name, ts);

CREATE TABLE errors (
    id          INTEGER PRIMARY KEY,
    ts          INTEGER NOT NULL,
    fingerprint TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    stacktrace  TEXT    NOT NULL,
    tags        TEXT    NOT NULL,
    labels      TEXT    NOT NULL
);
CREATE INDEX errors_ts ON errors (ts);
CREATE INDEX errors_fingerprint_ts ON errors (fingerprint, ts);

CREATE TABLE spans (
    trace_id       TEXT    NOT NULL,
    span_id        TEXT    NOT NULL,
    parent_span_id TEXT,
    name           TEXT    NOT NULL,
    service        TEXT    NOT NULL,
    start          INTEGER NOT NULL,
    duration_ms    REAL    NOT NULL,
    status         TEXT    NOT NULL,
    attributes     TEXT    NOT NULL,
    labels         TEXT    NOT NULL
);
CREATE INDEX spans_trace ON spans (trace_id);
CREATE INDEX spans_start ON spans (start);
CREATE INDEX spans_service_start ON spans (service, start);

CREATE TABLE security_events (
    id      INTEGER PRIMARY KEY,
    ts      INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    actor   TEXT,
    ip      TEXT,
    details TEXT    NOT NULL,
    labels  TEXT    NOT NULL
);
CREATE INDEX security_events_ts ON security_events (ts);

CREATE TABLE api_keys (
    hash       TEXT PRIMARY KEY, -- SHA-256 of the key, hex
    prefix     TEXT NOT NULL,
    kind       TEXT NOT NULL,    -- ingest | admin
    project    TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
