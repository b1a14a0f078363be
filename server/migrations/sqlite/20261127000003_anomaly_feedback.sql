-- "Not an anomaly": what people told the detector. Kept after the anomaly itself expires, since
-- it keeps lowering its series' sensitivity to deviations of that size.
CREATE TABLE anomaly_feedback (
    series_id  INTEGER NOT NULL,
    ts         INTEGER NOT NULL,
    -- How far the value was from the expected one, in the detector's standard deviations.
    sigmas     REAL    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (series_id, ts)
) WITHOUT ROWID;
