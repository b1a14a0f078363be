-- Keys get a name, a revocation time and a last-used time; `kind` gains `read` (read-only).
ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN revoked_at BIGINT;
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
