-- The last telemetry event frame stored per SDK instance, so frames a game server sends again
-- after a reconnect (they were stored, but the acknowledgement was lost) are not stored twice,
-- even across a gm-server restart.
CREATE TABLE telemetry_event_cursors (
    server_id TEXT NOT NULL,
    instance INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (server_id, instance)
);
