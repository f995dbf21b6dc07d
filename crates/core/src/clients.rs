//! Clients as the limits count them: by network, not by socket. An IPv4 client is its address;
//! an IPv6 client owns at least a /64 (a subscriber gets the whole /64 and may use any address
//! in it), so it counts by that. `Slots` is the table of connections open per client that the
//! HTTP and SMTP listeners share the shape of.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

/// The network a limit counts `ip` against: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by its /64.
pub fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// Connections open per client network.
#[derive(Default)]
pub struct Slots {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection; its slot is freed when dropped.
pub struct Slot {
    table: Arc<Slots>,
    key: IpAddr,
}

impl Slots {
    /// A slot for a connection from `ip`, or `None` when its network has `max` open already.
    pub fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Slot> {
        let key = network(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot { table: self.clone(), key })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_counts_by_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network(a), network(b));
        assert_ne!(network(a), network(c));
        assert_eq!(network("::ffff:192.0.2.1".parse().unwrap()), "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn slots_are_counted_per_network_and_freed() {
        let t = Arc::new(Slots::default());
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let one = t.take(ip, 2).unwrap();
        let two = t.take(ip, 2).unwrap();
        assert!(t.take(ip, 2).is_none());
        assert!(t.take("192.0.2.8".parse().unwrap(), 2).is_some(), "another address has its own");
        drop(one);
        assert!(t.take(ip, 2).is_some());
        drop(two);
    }
}
