-- Game-server keys: only the SHA-256 of each secret is stored.
CREATE TABLE game_server_keys (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT,
    last_used_at_ms BIGINT
);

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
