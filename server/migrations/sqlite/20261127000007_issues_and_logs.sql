-- Errors grouped into issues, links from errors to traces, and logs.

-- One row per error fingerprint: what the Errors page lists. Kept by the batch writer in the
-- transaction that stores the occurrences, so counts never drift from the errors table.
CREATE TABLE error_groups (
    fingerprint      TEXT    PRIMARY KEY,
    type             TEXT    NOT NULL,
    message          TEXT    NOT NULL,
    -- The top in-app frame, "function (file)", or ''.
    culprit          TEXT    NOT NULL,
    service          TEXT    NOT NULL,
    first_seen       INTEGER NOT NULL,
    last_seen        INTEGER NOT NULL,
    count            INTEGER NOT NULL,
    -- unresolved, resolved or ignored
    status           TEXT    NOT NULL,
    -- The release the issue was marked resolved in (the newest seen then), if any.
    resolved_release TEXT,
    resolved_at      INTEGER,
    first_release    TEXT,
    last_release     TEXT,
    -- When it last came back after being resolved.
    regressed_at     INTEGER
);
CREATE INDEX error_groups_last_seen ON error_groups (last_seen);

INSERT INTO error_groups (fingerprint, type, message, culprit, service, first_seen, last_seen,
                          count, status)
SELECT fingerprint, MIN(type), MIN(message), '', '', MIN(ts), MAX(ts), COUNT(*), 'unresolved'
FROM errors GROUP BY fingerprint;

ALTER TABLE errors ADD COLUMN trace_id TEXT;
ALTER TABLE errors ADD COLUMN span_id TEXT;
CREATE INDEX errors_trace ON errors (trace_id);

CREATE TABLE logs (
    ts              INTEGER NOT NULL,
    -- trace, debug, info, warn, error or fatal
    severity        TEXT    NOT NULL,
    severity_number INTEGER NOT NULL,
    body            TEXT    NOT NULL,
    service         TEXT    NOT NULL,
    trace_id        TEXT,
    span_id         TEXT,
    attributes      TEXT    NOT NULL,
    labels          TEXT    NOT NULL
);
CREATE INDEX logs_ts ON logs (ts);
CREATE INDEX logs_service_ts ON logs (service, ts);
CREATE INDEX logs_trace ON logs (trace_id);

-- The users an issue affected (the `user_id` label of its occurrences), counted per issue.
CREATE TABLE error_group_users (
    fingerprint TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    PRIMARY KEY (fingerprint, user_id)
) WITHOUT ROWID;
