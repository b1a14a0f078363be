-- Samples move into blocks (see server/src/store/blocks.rs): one row per series and hour of a
-- commit, merged by compaction. The old table is kept under another name until the store has
-- moved its rows into blocks at start-up (it then drops it), so no stored sample is lost.

ALTER TABLE samples RENAME TO legacy_samples;

CREATE TABLE sample_blocks (
    id        INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL,
    win       INTEGER NOT NULL, -- start_ts / 3 600 000: every block lies inside one hour
    start_ts  INTEGER NOT NULL,
    end_ts    INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    data      BLOB    NOT NULL
);
CREATE INDEX sample_blocks_series_start ON sample_blocks (series_id, start_ts);
CREATE INDEX sample_blocks_win ON sample_blocks (win, series_id);

-- Commits append their samples here, one block per series and hour, touching no index; the
-- batch writer soon moves them into sample_blocks and the rollups in one larger transaction
-- (flush_pending), so the indexes are updated once a second instead of once a commit.
CREATE TABLE pending_blocks (
    id        INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL,
    win       INTEGER NOT NULL,
    start_ts  INTEGER NOT NULL,
    end_ts    INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    data      BLOB NOT NULL
);
