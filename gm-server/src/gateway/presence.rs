//! The fleet-wide player directory: who is online on which game server, with lookup by
//! account id and by name prefix. Game servers resend a full snapshot after every reconnect,
//! so the directory heals itself.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use gm_proto::PlayerInfo;
use parking_lot::RwLock;

/// Where a player is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerLocation {
    /// Account id.
    pub account_id: u64,
    /// Character name.
    pub name: String,
    /// The game server they are on.
    pub server_id: String,
}

#[derive(Debug, Default)]
struct Maps {
    by_account: HashMap<u64, PlayerLocation>,
    /// Lower-case name → accounts (names need not be unique across servers).
    by_name: BTreeMap<String, BTreeSet<u64>>,
    by_server: HashMap<String, BTreeSet<u64>>,
}

/// The directory. One lock: updates are rare next to the game's own work, and reads are short.
#[derive(Debug, Default)]
pub struct Presence {
    maps: RwLock<Maps>,
}

impl Maps {
    fn remove(&mut self, account_id: u64) {
        if let Some(old) = self.by_account.remove(&account_id) {
            let key = old.name.to_lowercase();
            if let Some(set) = self.by_name.get_mut(&key) {
                set.remove(&account_id);
                if set.is_empty() {
                    self.by_name.remove(&key);
                }
            }
            if let Some(set) = self.by_server.get_mut(&old.server_id) {
                set.remove(&account_id);
            }
        }
    }

    fn insert(&mut self, server_id: &str, p: &PlayerInfo) {
        self.remove(p.account_id);
        self.by_name
            .entry(p.name.to_lowercase())
            .or_default()
            .insert(p.account_id);
        self.by_server
            .entry(server_id.to_string())
            .or_default()
            .insert(p.account_id);
        self.by_account.insert(
            p.account_id,
            PlayerLocation {
                account_id: p.account_id,
                name: p.name.clone(),
                server_id: server_id.to_string(),
            },
        );
    }
}

impl Presence {
    /// Replaces everything known about `server_id` with `players`.
    pub fn replace_server(&self, server_id: &str, players: &[PlayerInfo]) {
        let mut m = self.maps.write();
        self.clear_locked(&mut m, server_id);
        for p in players {
            m.insert(server_id, p);
        }
    }

    fn clear_locked(&self, m: &mut Maps, server_id: &str) {
        let ids: Vec<u64> = m
            .by_server
            .remove(server_id)
            .map(|s| s.into_iter().collect())
            .unwrap_or_default();
        for id in ids {
            m.remove(id);
        }
    }

    /// Forgets a game server's players (it disconnected).
    pub fn remove_server(&self, server_id: &str) {
        let mut m = self.maps.write();
        self.clear_locked(&mut m, server_id);
    }

    /// A player joined `server_id` (moving them if they were elsewhere).
    pub fn join(&self, server_id: &str, p: &PlayerInfo) {
        self.maps.write().insert(server_id, p);
    }

    /// A player left `server_id` (ignored if the directory has them elsewhere since).
    pub fn leave(&self, server_id: &str, account_id: u64) {
        let mut m = self.maps.write();
        if m.by_account
            .get(&account_id)
            .is_some_and(|l| l.server_id == server_id)
        {
            m.remove(account_id);
        }
    }

    /// Where an account is.
    pub fn locate(&self, account_id: u64) -> Option<PlayerLocation> {
        self.maps.read().by_account.get(&account_id).cloned()
    }

    /// Players whose name starts with `prefix` (case-insensitive), by name, at most `limit`.
    pub fn find_by_prefix(&self, prefix: &str, limit: usize) -> Vec<PlayerLocation> {
        let m = self.maps.read();
        let prefix = prefix.to_lowercase();
        m.by_name
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .flat_map(|(_, ids)| ids.iter())
            .filter_map(|id| m.by_account.get(id).cloned())
            .take(limit)
            .collect()
    }

    /// Players with exactly this name (case-insensitive).
    pub fn find_by_name(&self, name: &str) -> Vec<PlayerLocation> {
        let m = self.maps.read();
        m.by_name
            .get(&name.to_lowercase())
            .into_iter()
            .flat_map(|ids| ids.iter())
            .filter_map(|id| m.by_account.get(id).cloned())
            .collect()
    }

    /// Players online on `server_id`, or in the whole fleet.
    pub fn count(&self, server_id: Option<&str>) -> usize {
        let m = self.maps.read();
        match server_id {
            Some(s) => m.by_server.get(s).map_or(0, BTreeSet::len),
            None => m.by_account.len(),
        }
    }

    /// Names online on a server, sorted, at most `limit`.
    pub fn names_on(&self, server_id: &str, limit: usize) -> Vec<String> {
        let m = self.maps.read();
        let mut names: Vec<String> = m
            .by_server
            .get(server_id)
            .into_iter()
            .flat_map(|ids| ids.iter())
            .filter_map(|id| m.by_account.get(id).map(|l| l.name.clone()))
            .collect();
        names.sort();
        names.truncate(limit);
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: u64, name: &str) -> PlayerInfo {
        PlayerInfo {
            account_id: id,
            name: name.into(),
        }
    }

    #[test]
    fn joins_moves_leaves_and_snapshots() {
        let d = Presence::default();
        d.replace_server("a", &[p(1, "Bob"), p(2, "Bobby"), p(3, "Alice")]);
        d.join("b", &p(4, "bob"));
        assert_eq!(d.find_by_name("BOB").len(), 2);
        let pre: Vec<_> = d
            .find_by_prefix("bo", 10)
            .into_iter()
            .map(|l| l.account_id)
            .collect();
        assert_eq!(pre.len(), 3);
        assert_eq!(d.count(None), 4);
        d.join("b", &p(1, "Bob")); // moved servers
        assert_eq!(d.locate(1).unwrap().server_id, "b");
        d.leave("a", 1); // stale leave from the old server is ignored
        assert!(d.locate(1).is_some());
        d.replace_server("a", &[p(3, "Alice")]); // resync after reconnect
        assert_eq!(d.count(Some("a")), 1);
        assert!(d.locate(2).is_none());
        d.remove_server("b");
        assert_eq!(d.count(None), 1);
        assert!(d.find_by_name("bob").is_empty());
        assert_eq!(d.names_on("a", 10), ["Alice"]);
    }
}
