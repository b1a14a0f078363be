-- Alerting: configuration documents, alert state, incidents and the notification outbox.

-- Small configuration objects (channels, alert rules, silences, escalation policies, on-call
-- rotations) kept as validated JSON. Few rows, read whole; one table keeps the storage simple.
CREATE TABLE documents (
    kind       TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;

-- The current state of every alert instance (rule × label set), so a restart resumes it.
CREATE TABLE alert_instances (
    rule_id    TEXT    NOT NULL,
    labels     TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    since      INTEGER NOT NULL,
    value      REAL,
    updated_at INTEGER NOT NULL,
    -- The state machine's whole memory (JSON), so evaluation resumes where it stopped.
    detail     TEXT    NOT NULL,
    PRIMARY KEY (rule_id, labels)
) WITHOUT ROWID;

-- Every change of state, for the rule's history.
CREATE TABLE alert_transitions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id    TEXT    NOT NULL,
    labels     TEXT    NOT NULL,
    ts         INTEGER NOT NULL,
    from_state TEXT    NOT NULL,
    to_state   TEXT    NOT NULL,
    value      REAL
);
CREATE INDEX alert_transitions_rule_ts ON alert_transitions (rule_id, ts);

CREATE TABLE incidents (
    id               TEXT    PRIMARY KEY,
    -- The alert group that opened it: a re-firing group joins its open incident.
    dedup_key        TEXT    NOT NULL,
    title            TEXT    NOT NULL,
    severity         INTEGER NOT NULL,
    status           TEXT    NOT NULL,
    assignee         TEXT,
    rule_id          TEXT,
    opened_at        INTEGER NOT NULL,
    acknowledged_at  INTEGER,
    resolved_at      INTEGER,
    escalation_level INTEGER NOT NULL,
    escalate_at      INTEGER,
    postmortem       TEXT,
    updated_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX incidents_open_key ON incidents (dedup_key) WHERE status <> 'resolved';
CREATE INDEX incidents_opened ON incidents (opened_at);

CREATE TABLE incident_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT    NOT NULL,
    ts          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    actor       TEXT
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, id);

-- Notifications to deliver, at least once: written in the same transaction as the state change
-- that caused them, removed from the queue only once the receiver has acknowledged them.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id      TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL UNIQUE,
    incident_id     TEXT,
    message         TEXT    NOT NULL,
    -- pending, delivered or dead
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
