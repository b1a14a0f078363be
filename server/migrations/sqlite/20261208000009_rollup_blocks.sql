-- Rollups move into blocks (see server/src/store/rollup.rs): one row holds one series' buckets
-- of one window (an hour of minutes, a day of hours), so a day of many series reads a few
-- thousand rows instead of a row per series-minute. The old tables are kept under other names
-- until the store has moved their rows into blocks at start-up (it then drops them), so no
-- stored rollup is lost.

ALTER TABLE rollup_1m RENAME TO legacy_rollup_1m;
ALTER TABLE rollup_1h RENAME TO legacy_rollup_1h;

CREATE TABLE rollup_blocks (
    id        INTEGER PRIMARY KEY,
    width     INTEGER NOT NULL, -- bucket width in ms: 60 000 (minutes) or 3 600 000 (hours)
    series_id INTEGER NOT NULL,
    win       INTEGER NOT NULL, -- bucket / window width (3 600 000 for minutes, 86 400 000 for hours)
    data      BLOB    NOT NULL
);
-- Reads: a query's series over its windows. Compaction and retention: windows in time order.
CREATE INDEX rollup_blocks_series ON rollup_blocks (width, series_id, win);
CREATE INDEX rollup_blocks_win ON rollup_blocks (width, win, series_id);
