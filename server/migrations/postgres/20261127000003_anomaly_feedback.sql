-- "Not an anomaly": what people told the detector. Kept after the anomaly itself expires, since
-- it keeps lowering its series' sensitivity to deviations of that size.
CREATE TABLE anomaly_feedback (
    series_id  BIGINT           NOT NULL,
    ts         BIGINT           NOT NULL,
    -- How far the value was from the expected one, in the detector's standard deviations.
    sigmas     DOUBLE PRECISION NOT NULL,
    created_at BIGINT           NOT NULL,
    PRIMARY KEY (series_id, ts)
);
