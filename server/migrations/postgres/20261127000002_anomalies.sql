-- Anomalies found by the live detector: one row per series and minute that scored high.
CREATE TABLE anomalies (
    series_id   BIGINT           NOT NULL,
    ts          BIGINT           NOT NULL,
    value       DOUBLE PRECISION NOT NULL,
    score       DOUBLE PRECISION NOT NULL,
    expected    DOUBLE PRECISION NOT NULL,
    lower       DOUBLE PRECISION NOT NULL,
    upper       DOUBLE PRECISION NOT NULL,
    explanation TEXT             NOT NULL,
    PRIMARY KEY (series_id, ts)
);
CREATE INDEX anomalies_ts ON anomalies (ts);
