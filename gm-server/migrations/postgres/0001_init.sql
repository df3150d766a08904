-- Game-server keys: only the SHA-256 of each secret is stored.
CREATE TABLE game_server_keys (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT,
    last_used_at_ms BIGINT
);

-- A name belongs to one active key at a time; revoked keys keep theirs for the record.
CREATE UNIQUE INDEX game_server_keys_active_name ON game_server_keys (name)
    WHERE revoked_at_ms IS NULL;

-- Every game server that ever completed a handshake, with what it said last.
CREATE TABLE game_servers (
    server_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    region TEXT NOT NULL,
    game_build TEXT NOT NULL,
    sdk_version TEXT NOT NULL,
    key_name TEXT NOT NULL,
    remote_addr TEXT NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL
);
