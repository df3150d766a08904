-- The game-server ids a key may connect as: a comma-separated list of ids and prefixes ending
-- in `*` (see gm_server::keys::ServerIds), or NULL for any id, as keys created before this
-- migration are.
ALTER TABLE game_server_keys ADD COLUMN server_ids TEXT;
