//! `--max-connections-per-client`: no client may take the connection slots every client shares
//! (finding F-AW in docs/robustness.md).
//!
//! `--max-connections` bounds the connections served at once, and one client could hold them
//! all: each silent connection lasts `--header-read-timeout`, and a client that opens new ones
//! as fast as they are closed kept every other client in the listen backlog. The cap is soft,
//! so that many users behind one address (a company's NAT) are not refused while there is room:
//! a client that already holds `--max-connections-per-client` connections is refused a new one
//! only while more than half of `--max-connections` is in use. A client is an IPv4 address or an
//! IPv6 /64 (one host is given a whole /64, so counting its single addresses would not bound it;
//! an IPv4 client translated into `64:ff9b::/96` is its IPv4 address);
//! a peer in `--trusted-proxies` (a load balancer, which carries many clients) is not counted,
//! and behind `--proxy-protocol` the client is the one the header names.
//!
//! Hand-written: the crates that limit per key (`governor`, tower's `RateLimit`) limit rates,
//! not how many connections are open at once, and a map of counts under a lock is all this needs.
//! The lock is taken twice per connection (accepted, closed), never per request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OwnedSemaphorePermit;

/// A client, as counted: an IPv4 address, or the /64 prefix of an IPv6 one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ClientKey {
    Address(u32),
    Network(u64),
}

/// The upper 96 bits of the well-known prefix `64:ff9b::/96` (RFC 6052 section 2.1), under
/// which a stateless translator (SIIT-DC, RFC 7755) hands an IPv6-only server its IPv4 clients,
/// each client's address in the last 32 bits.
const TRANSLATED_IPV4: u128 = 0x0064_ff9b_0000_0000_0000_0000;

impl ClientKey {
    fn of(address: IpAddr) -> Self {
        match address.to_canonical() {
            IpAddr::V4(v4) => Self::Address(v4.to_bits()),
            // Every IPv4 client behind the translator would be the one /64 (finding F-BC).
            IpAddr::V6(v6) if v6.to_bits() >> 32 == TRANSLATED_IPV4 => {
                let [.., a, b, c, d] = v6.octets();
                Self::Address(u32::from_be_bytes([a, b, c, d]))
            }
            // The upper 64 bits: the network a host is given.
            IpAddr::V6(v6) => Self::Network((v6.to_bits() >> 64) as u64),
        }
    }
}

/// The connections each client holds, and the rule that refuses one more.
#[derive(Debug)]
pub(crate) struct PerClient {
    /// `--max-connections-per-client`; zero turns the cap off.
    cap: usize,
    /// Past this many connections open, the cap applies: half of `--max-connections`.
    pressure: usize,
    /// The client connections open, counted or not. Counted here rather than read from the
    /// semaphore of `--max-connections`, whose acceptors hold a slot ahead of each accept.
    open: AtomicUsize,
    counts: Mutex<HashMap<ClientKey, usize>>,
}

impl PerClient {
    /// The cap `cap` (zero: none) over `max_connections` connections.
    pub(crate) fn new(cap: usize, max_connections: usize) -> Self {
        let pressure = max_connections / 2;
        let counts = Mutex::new(HashMap::new());
        Self { cap, pressure, open: AtomicUsize::new(0), counts }
    }

    /// The slot of a connection just accepted, `connection` of `--max-connections`, counted
    /// against no client yet.
    pub(crate) fn slot(self: &Arc<Self>, connection: OwnedSemaphorePermit) -> Slot {
        let arrived_with = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        Slot { _connection: connection, per_client: Arc::clone(self), client: None, arrived_with }
    }

    /// Counts the connection of `slot` against `client`, or refuses it: `false` when `client`
    /// already holds the cap while more than half of `--max-connections` is open, as the
    /// connection found it when accepted (or fewer, if some closed since). The count ends when
    /// `slot` is dropped.
    pub(crate) fn admit(&self, slot: &mut Slot, client: IpAddr) -> bool {
        if self.cap == 0 {
            return true;
        }
        let key = ClientKey::of(client);
        // As the connection found the gateway, or fewer if some closed since: connections taken
        // after it, by other workers before it is admitted here, are not in use before it
        // (finding F-EC).
        let open = self.open.load(Ordering::Relaxed).min(slot.arrived_with);
        // A poisoned lock only means a thread panicked while holding it; the counts stay whole
        // (each change is one statement).
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(key).or_insert(0);
        if *count >= self.cap && open > self.pressure {
            // `cap` is at least one, so the client has an entry to keep.
            return false;
        }
        *count += 1;
        drop(counts);
        if let Some(earlier) = slot.client.replace(key) {
            self.release(earlier);
        }
        true
    }

    /// Ends one connection of `key`; the entry goes with the client's last connection, so the
    /// map holds only clients that have one open.
    fn release(&self, key: ClientKey) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&key);
            }
        }
    }

    /// How many clients hold a connection (for tests).
    #[cfg(test)]
    fn clients(&self) -> usize {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// What a client connection holds until it closes, and the tunnel it may become with it: its
/// slot of `--max-connections`, and its count against its client's cap, if it is counted (not
/// when the cap is off or the peer is trusted).
#[derive(Debug)]
pub(crate) struct Slot {
    _connection: OwnedSemaphorePermit,
    per_client: Arc<PerClient>,
    client: Option<ClientKey>,
    /// The connections open when it was accepted, itself included.
    arrived_with: usize,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.per_client.open.fetch_sub(1, Ordering::Relaxed);
        if let Some(key) = self.client.take() {
            self.per_client.release(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Semaphore;

    /// A cap of `cap` over 10 connections, `open` of them already open (from another client).
    fn gateway(open: usize, cap: usize) -> (Arc<PerClient>, Vec<Slot>) {
        let per_client = Arc::new(PerClient::new(cap, 10));
        let others = (0..open).map(|_| per_client.slot(permit())).collect();
        (per_client, others)
    }

    fn permit() -> OwnedSemaphorePermit {
        Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap()
    }

    /// A new connection's slot once `per_client` admitted it from `client`.
    fn open(per_client: &Arc<PerClient>, client: &str) -> Option<Slot> {
        let mut slot = per_client.slot(permit());
        per_client.admit(&mut slot, client.parse().unwrap()).then_some(slot)
    }

    #[test]
    fn the_cap_applies_only_past_half_of_the_connections() {
        let (relaxed, _others) = gateway(1, 2);
        let held: Vec<_> = (0..4).map(|_| open(&relaxed, "192.0.2.1")).collect();
        assert!(held.iter().all(Option::is_some), "up to half, nobody is refused");
        assert!(open(&relaxed, "192.0.2.1").is_none(), "the sixth is past half");
        let (pressed, _others) = gateway(6, 2);
        let first = open(&pressed, "192.0.2.1");
        let second = open(&pressed, "192.0.2.1");
        assert!(first.is_some() && second.is_some());
        assert!(open(&pressed, "192.0.2.1").is_none(), "a third past half is refused");
        assert!(open(&pressed, "192.0.2.2").is_some(), "another client is not");
        drop(first);
        assert!(open(&pressed, "192.0.2.1").is_some(), "a closed one frees its count");
    }

    #[test]
    fn an_ipv6_client_is_its_64_and_a_mapped_ipv4_its_address() {
        let (per_client, _others) = gateway(9, 2);
        let a = open(&per_client, "2001:db8:1:2::1");
        let b = open(&per_client, "2001:db8:1:2:ffff::2");
        assert!(a.is_some() && b.is_some());
        assert!(open(&per_client, "2001:db8:1:2::3").is_none());
        assert!(open(&per_client, "2001:db8:1:3::1").is_some());
        let v4 = [open(&per_client, "192.0.2.7"), open(&per_client, "192.0.2.7")];
        assert!(v4.iter().all(Option::is_some));
        assert!(open(&per_client, "::ffff:192.0.2.7").is_none());
    }

    #[test]
    fn an_ipv4_client_through_a_translator_is_its_ipv4_address() {
        let (per_client, _others) = gateway(9, 2);
        let held = [open(&per_client, "64:ff9b::192.0.2.7"), open(&per_client, "192.0.2.7")];
        assert!(held.iter().all(Option::is_some));
        assert!(open(&per_client, "64:ff9b::c000:207").is_none(), "the same client, translated");
        let others = ["64:ff9b::192.0.2.8", "64:ff9b::198.51.100.1", "64:ff9b::198.51.100.2"];
        assert!(others.map(|client| open(&per_client, client)).iter().all(Option::is_some));
        // Outside the /96, the prefix's /64 is one network, as any other.
        let network = [open(&per_client, "64:ff9b::1:0:1"), open(&per_client, "64:ff9b::1:0:2")];
        assert!(network.iter().all(Option::is_some));
        assert!(open(&per_client, "64:ff9b::2:0:1").is_none());
    }

    #[test]
    fn counts_end_with_the_last_connection_and_a_zero_cap_counts_nothing() {
        let (per_client, others) = gateway(9, 2);
        let held = ["10.0.0.1", "10.0.0.2", "10.0.0.3"].map(|c| open(&per_client, c));
        assert_eq!(per_client.clients(), 3);
        assert_eq!(per_client.open.load(Ordering::Relaxed), 12);
        drop((held, others));
        assert_eq!(per_client.clients(), 0);
        assert_eq!(per_client.open.load(Ordering::Relaxed), 0);
        let (off, _others) = gateway(9, 0);
        let many: Vec<_> = (0..50).map(|_| open(&off, "10.0.0.1")).collect();
        assert!(many.iter().all(Option::is_some));
        assert_eq!(off.clients(), 0);
    }

    /// Finding F-EC: connections taken at once (by several workers, each taking a slot and then
    /// admitting it) are admitted as if they had come one by one: up to half of the 10, a
    /// client's connections are served past its cap of 1, and only the later ones refused.
    /// Each admission read the count of all the slots taken, its own and the later ones, so
    /// that all but the first were refused.
    #[test]
    fn connections_taken_at_once_are_admitted_as_if_one_by_one() {
        let (per_client, _others) = gateway(0, 1);
        let mut slots: Vec<Slot> = (0..8).map(|_| per_client.slot(permit())).collect();
        let client = "192.0.2.1".parse().unwrap();
        let admitted: Vec<bool> =
            slots.iter_mut().map(|slot| per_client.admit(slot, client)).collect();
        assert_eq!(admitted, [true, true, true, true, true, false, false, false]);
    }

    #[test]
    fn a_slot_counted_again_moves_to_its_new_client() {
        let (per_client, _others) = gateway(9, 1);
        let mut slot = open(&per_client, "10.0.0.1").unwrap();
        assert!(per_client.admit(&mut slot, "10.0.0.2".parse().unwrap()));
        assert!(open(&per_client, "10.0.0.1").is_some(), "the first client's count ended");
        assert!(open(&per_client, "10.0.0.2").is_none());
    }
}
