-- Telemetry events: the raw records as they arrived, in batches, and counts per name per
-- time bucket for queries.
CREATE TABLE telemetry_event_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL,
    first_at_ms INTEGER NOT NULL,
    last_at_ms INTEGER NOT NULL,
    event_count INTEGER NOT NULL,
    -- JSON object: event kind number -> name, as the game named them.
    kinds TEXT NOT NULL,
    -- Packed 32-byte records (gm_proto::telemetry::EventRecord).
    records BLOB NOT NULL
);
CREATE INDEX telemetry_event_batches_received ON telemetry_event_batches (received_at_ms);
CREATE INDEX telemetry_event_batches_server ON telemetry_event_batches (server_id, first_at_ms);

CREATE TABLE telemetry_event_counts (
    server_id TEXT NOT NULL,
    name TEXT NOT NULL,
    bucket_ms INTEGER NOT NULL,
    event_count INTEGER NOT NULL,
    PRIMARY KEY (server_id, name, bucket_ms)
);
CREATE INDEX telemetry_event_counts_bucket ON telemetry_event_counts (bucket_ms);
