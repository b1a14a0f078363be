-- Anomalies found by the live detector: one row per series and minute that scored high.
CREATE TABLE anomalies (
    series_id   INTEGER NOT NULL,
    ts          INTEGER NOT NULL,
    value       REAL    NOT NULL,
    score       REAL    NOT NULL,
    expected    REAL    NOT NULL,
    lower       REAL    NOT NULL,
    upper       REAL    NOT NULL,
    explanation TEXT    NOT NULL,
    PRIMARY KEY (series_id, ts)
) WITHOUT ROWID;
CREATE INDEX anomalies_ts ON anomalies (ts);
