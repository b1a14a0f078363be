-- Samples move into blocks (see server/src/store/blocks.rs): one row per series and hour of a
-- commit, merged by compaction. The old table is kept under another name until the store has
-- moved its rows into blocks at start-up (it then drops it), so no stored sample is lost.
-- Blocks are partitioned by day like the samples were; an hour never straddles two days.

ALTER TABLE samples RENAME TO legacy_samples;

CREATE TABLE sample_blocks (
    id        BIGSERIAL,
    series_id BIGINT NOT NULL,
    win       BIGINT NOT NULL, -- start_ts / 3 600 000: every block lies inside one hour
    start_ts  BIGINT NOT NULL,
    end_ts    BIGINT NOT NULL,
    count     BIGINT NOT NULL,
    data      BYTEA  NOT NULL
) PARTITION BY RANGE (start_ts);
CREATE INDEX sample_blocks_series_start ON sample_blocks (series_id, start_ts);
CREATE INDEX sample_blocks_win ON sample_blocks (win, series_id);

-- Commits append their samples here, one block per series and hour, touching no index; the
-- batch writer soon moves them into sample_blocks and the rollups in one larger transaction
-- (flush_pending), so the indexes are updated once a second instead of once a commit.
CREATE TABLE pending_blocks (
    id        BIGSERIAL PRIMARY KEY,
    series_id BIGINT NOT NULL,
    win       BIGINT NOT NULL,
    start_ts  BIGINT NOT NULL,
    end_ts    BIGINT NOT NULL,
    count     BIGINT NOT NULL,
    data      BYTEA NOT NULL
);
