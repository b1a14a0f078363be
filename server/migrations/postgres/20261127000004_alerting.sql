-- Alerting: configuration documents, alert state, incidents and the notification outbox.

-- Small configuration objects (channels, alert rules, silences, escalation policies, on-call
-- rotations) kept as validated JSON. Few rows, read whole; one table keeps the storage simple.
CREATE TABLE documents (
    kind       TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);

-- The current state of every alert instance (rule × label set), so a restart resumes it.
CREATE TABLE alert_instances (
    rule_id    TEXT    NOT NULL,
    labels     TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    since      BIGINT NOT NULL,
    value      DOUBLE PRECISION,
    updated_at BIGINT NOT NULL,
    -- The state machine's whole memory (JSON), so evaluation resumes where it stopped.
    detail     TEXT    NOT NULL,
    PRIMARY KEY (rule_id, labels)
);

-- Every change of state, for the rule's history.
CREATE TABLE alert_transitions (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id    TEXT    NOT NULL,
    labels     TEXT    NOT NULL,
    ts         BIGINT NOT NULL,
    from_state TEXT    NOT NULL,
    to_state   TEXT    NOT NULL,
    value      DOUBLE PRECISION
);
CREATE INDEX alert_transitions_rule_ts ON alert_transitions (rule_id, ts);

CREATE TABLE incidents (
    id               TEXT    PRIMARY KEY,
    -- The alert group that opened it: a re-firing group joins its open incident.
    dedup_key        TEXT    NOT NULL,
    title            TEXT    NOT NULL,
    severity         BIGINT NOT NULL,
    status           TEXT    NOT NULL,
    assignee         TEXT,
    rule_id          TEXT,
    opened_at        BIGINT NOT NULL,
    acknowledged_at  BIGINT,
    resolved_at      BIGINT,
    escalation_level BIGINT NOT NULL,
    escalate_at      BIGINT,
    postmortem       TEXT,
    updated_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX incidents_open_key ON incidents (dedup_key) WHERE status <> 'resolved';
CREATE INDEX incidents_opened ON incidents (opened_at);

CREATE TABLE incident_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id TEXT    NOT NULL,
    ts          BIGINT NOT NULL,
    kind        TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    actor       TEXT
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, id);

-- Notifications to deliver, at least once: written in the same transaction as the state change
-- that caused them, removed from the queue only once the receiver has acknowledged them.
CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_id      TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL UNIQUE,
    incident_id     TEXT,
    message         TEXT    NOT NULL,
    -- pending, delivered or dead
    status          TEXT    NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
