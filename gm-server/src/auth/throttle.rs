//! Failed logins per source address, kept in memory (per instance) and bounded.

use std::collections::HashMap;
use std::net::IpAddr;

use parking_lot::Mutex;

/// Most addresses tracked; past this, entries whose window ended are dropped first, then the
/// oldest.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    window_start_ms: i64,
    locked_until_ms: Option<i64>,
}

/// Locks an address out after too many failed logins within a window.
#[derive(Debug)]
pub struct AddressThrottle {
    max_failures: u32,
    window_ms: i64,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

impl AddressThrottle {
    /// Locks an address for `window_ms` after `max_failures` failures within `window_ms`.
    pub fn new(max_failures: u32, window_ms: i64) -> AddressThrottle {
        AddressThrottle {
            max_failures,
            window_ms,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Until when `addr` is locked out, if it is.
    pub fn locked_until(&self, addr: IpAddr, now_ms: i64) -> Option<i64> {
        self.entries
            .lock()
            .get(&addr)
            .and_then(|e| e.locked_until_ms)
            .filter(|t| *t > now_ms)
    }

    /// Records a failure; returns the lock end if this failure locked the address.
    pub fn record_failure(&self, addr: IpAddr, now_ms: i64) -> Option<i64> {
        let mut entries = self.entries.lock();
        if entries.len() >= MAX_TRACKED && !entries.contains_key(&addr) {
            let window = self.window_ms;
            entries.retain(|_, e| {
                now_ms - e.window_start_ms < window || e.locked_until_ms.is_some_and(|t| t > now_ms)
            });
            if entries.len() >= MAX_TRACKED
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.window_start_ms)
                    .map(|(k, _)| *k)
            {
                entries.remove(&oldest);
            }
        }
        let e = entries.entry(addr).or_insert(Entry {
            failures: 0,
            window_start_ms: now_ms,
            locked_until_ms: None,
        });
        if now_ms - e.window_start_ms >= self.window_ms {
            *e = Entry {
                failures: 0,
                window_start_ms: now_ms,
                locked_until_ms: None,
            };
        }
        e.failures += 1;
        if e.failures >= self.max_failures {
            let until = now_ms + self.window_ms;
            e.locked_until_ms = Some(until);
            return Some(until);
        }
        None
    }

    /// Addresses tracked now.
    pub fn tracked(&self) -> usize {
        self.entries.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_limit_and_forgets_after_the_window() {
        let t = AddressThrottle::new(3, 1000);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(t.record_failure(a, 0), None);
        assert_eq!(t.record_failure(a, 10), None);
        assert_eq!(t.record_failure(a, 20), Some(1020));
        assert_eq!(t.locked_until(a, 500), Some(1020));
        assert_eq!(t.locked_until(a, 1020), None);
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(t.locked_until(b, 500), None);
        assert_eq!(t.record_failure(a, 5000), None, "new window");
    }
}
