-- Osprey's first schema on PostgreSQL. Times are unix milliseconds (BIGINT) so both backends
-- share one query shape. Samples and events are partitioned by day; the store creates each
-- day's partition before writing to it and retention drops whole partitions.

CREATE TABLE series (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT   NOT NULL,
    labels     TEXT   NOT NULL, -- canonical JSON object, keys sorted
    kind       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (name, labels)
);

CREATE TABLE samples (
    series_id BIGINT           NOT NULL,
    ts        BIGINT           NOT NULL,
    value     DOUBLE PRECISION NOT NULL
) PARTITION BY RANGE (ts);
CREATE INDEX samples_series_ts ON samples (series_id, ts);

CREATE TABLE rollup_1m (
    series_id BIGINT           NOT NULL,
    bucket    BIGINT           NOT NULL,
    count     BIGINT           NOT NULL,
    sum       DOUBLE PRECISION NOT NULL,
    min       DOUBLE PRECISION NOT NULL,
    max       DOUBLE PRECISION NOT NULL,
    last      DOUBLE PRECISION NOT NULL,
    last_ts   BIGINT           NOT NULL,
    PRIMARY KEY (series_id, bucket)
);
CREATE INDEX rollup_1m_bucket ON rollup_1m (bucket);

CREATE TABLE rollup_1h (
    series_id BIGINT           NOT NULL,
    bucket    BIGINT           NOT NULL,
    count     BIGINT           NOT NULL,
    sum       DOUBLE PRECISION NOT NULL,
    min       DOUBLE PRECISION NOT NULL,
    max       DOUBLE PRECISION NOT NULL,
    last      DOUBLE PRECISION NOT NULL,
    last_ts   BIGINT           NOT NULL,
    PRIMARY KEY (series_id, bucket)
);
CREATE INDEX rollup_1h_bucket ON rollup_1h (bucket);

CREATE TABLE events (
    ts         BIGINT NOT NULL,
    name       TEXT   NOT NULL,
    properties TEXT   NOT NULL,
    labels     TEXT   NOT NULL
) PARTITION BY RANGE (ts);
CREATE INDEX events_name_ts ON events (name, ts);
CREATE INDEX events_ts ON events (ts);

CREATE TABLE errors (
    id          BIGSERIAL PRIMARY KEY,
    ts          BIGINT NOT NULL,
    fingerprint TEXT   NOT NULL,
    type        TEXT   NOT NULL,
    message     TEXT   NOT NULL,
    stacktrace  TEXT   NOT NULL,
    tags        TEXT   NOT NULL,
    labels      TEXT   NOT NULL
);
CREATE INDEX errors_ts ON errors (ts);
CREATE INDEX errors_fingerprint_ts ON errors (fingerprint, ts);

CREATE TABLE spans (
    trace_id       TEXT             NOT NULL,
    span_id        TEXT             NOT NULL,
    parent_span_id TEXT,
    name           TEXT             NOT NULL,
    service        TEXT             NOT NULL,
    start          BIGINT           NOT NULL,
    duration_ms    DOUBLE PRECISION NOT NULL,
    status         TEXT             NOT NULL,
    attributes     TEXT             NOT NULL,
    labels         TEXT             NOT NULL
);
CREATE INDEX spans_trace ON spans (trace_id);
CREATE INDEX spans_start ON spans (start);
CREATE INDEX spans_service_start ON spans (service, start);

CREATE TABLE security_events (
    id      BIGSERIAL PRIMARY KEY,
    ts      BIGINT NOT NULL,
    kind    TEXT   NOT NULL,
    actor   TEXT,
    ip      TEXT,
    details TEXT   NOT NULL,
    labels  TEXT   NOT NULL
);
CREATE INDEX security_events_ts ON security_events (ts);

CREATE TABLE api_keys (
    hash       TEXT PRIMARY KEY, -- SHA-256 of the key, hex
    prefix     TEXT   NOT NULL,
    kind       TEXT   NOT NULL,  -- ingest | admin
    project    TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
