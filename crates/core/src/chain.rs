//! The hash chain over the event log. Each stored event carries the hash of the one before it
//! (by `seq`), so editing, removing or reordering any event breaks every hash after it.

use sha2::{Digest, Sha256};
use uuid::Uuid;

pub type Hash = [u8; 32];

/// The `prev_hash` of the very first event.
pub const GENESIS: Hash = [0u8; 32];

/// The fields of one event that the chain protects, exactly as stored.
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    pub seq: i64,
    pub id: Uuid,
    pub complaint_id: Uuid,
    pub at_micros: i64,
    pub kind: &'a str,
    pub actor_json: &'a str,
    pub data_json: &'a str,
}

impl Link<'_> {
    pub fn hash(&self, prev: &Hash) -> Hash {
        let mut h = Sha256::new();
        h.update(b"ombuds-event-v1\0");
        h.update(prev);
        h.update(self.seq.to_be_bytes());
        h.update(self.id.as_bytes());
        h.update(self.complaint_id.as_bytes());
        h.update(self.at_micros.to_be_bytes());
        // Length prefixes keep field boundaries unambiguous.
        for field in [self.kind, self.actor_json, self.data_json] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        h.finalize().into()
    }
}

/// What is wrong at one place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// An event is missing: `expected` was the next seq, `found` came instead.
    Gap { expected: i64, found: i64 },
    /// The stored `prev_hash` is not the hash of the event before.
    PrevMismatch { seq: i64 },
    /// The event's content no longer hashes to its stored hash: it was edited.
    Tampered { seq: i64 },
    /// The chain head records more events, or another last hash, than the log holds.
    Truncated { head_seq: i64, last_seq: i64 },
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Break::Gap { expected, found } => write!(f, "event #{expected} is missing (the next one found is #{found})"),
            Break::PrevMismatch { seq } => write!(f, "event #{seq} does not follow the event before it (prev_hash differs)"),
            Break::Tampered { seq } => write!(f, "event #{seq} was altered (its content no longer matches its hash)"),
            Break::Truncated { head_seq, last_seq } => {
                write!(f, "the log ends at event #{last_seq} but the chain head records #{head_seq}: events were removed")
            }
        }
    }
}

/// Walks events in `seq` order and reports the first break.
#[derive(Debug)]
pub struct Verifier {
    next_seq: i64,
    prev: Hash,
    pub checked: u64,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier { next_seq: 1, prev: GENESIS, checked: 0 }
    }
}

impl Verifier {
    pub fn check(&mut self, link: &Link<'_>, prev_hash: &[u8], hash: &[u8]) -> Result<(), Break> {
        if link.seq != self.next_seq {
            return Err(Break::Gap { expected: self.next_seq, found: link.seq });
        }
        if prev_hash != self.prev {
            return Err(Break::PrevMismatch { seq: link.seq });
        }
        let computed = link.hash(&self.prev);
        if hash != computed {
            return Err(Break::Tampered { seq: link.seq });
        }
        self.prev = computed;
        self.next_seq += 1;
        self.checked += 1;
        Ok(())
    }

    /// Compares the end of the walk with the chain head the store keeps.
    pub fn finish(&self, head_seq: i64, head_hash: &[u8]) -> Result<(), Break> {
        let last_seq = self.next_seq - 1;
        if head_seq != last_seq || head_hash != self.prev {
            return Err(Break::Truncated { head_seq, last_seq });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<(Link<'static>, Hash, Hash)> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let link = Link {
                    seq,
                    id: Uuid::from_u128(seq as u128),
                    complaint_id: Uuid::from_u128(7),
                    at_micros: seq * 1000,
                    kind: "registered",
                    actor_json: "{\"type\":\"system\"}",
                    data_json: "{}",
                };
                let h = link.hash(&prev);
                let out = (link, prev, h);
                prev = h;
                out
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies() {
        let c = chain(5);
        let mut v = Verifier::default();
        for (l, p, h) in &c {
            v.check(l, p, h).unwrap();
        }
        v.finish(5, &c[4].2).unwrap();
        assert_eq!(v.checked, 5);
    }

    #[test]
    fn finds_edit_gap_and_truncation() {
        let mut c = chain(5);
        c[2].0.data_json = "{\"x\":1}";
        let mut v = Verifier::default();
        let first_err = c.iter().find_map(|(l, p, h)| v.check(l, p, h).err());
        assert_eq!(first_err, Some(Break::Tampered { seq: 3 }));

        let c = chain(5);
        let mut v = Verifier::default();
        let err = c.iter().filter(|x| x.0.seq != 2).find_map(|(l, p, h)| v.check(l, p, h).err());
        assert_eq!(err, Some(Break::Gap { expected: 2, found: 3 }));

        let mut v = Verifier::default();
        for (l, p, h) in &c[..4] {
            v.check(l, p, h).unwrap();
        }
        assert_eq!(v.finish(5, &c[4].2), Err(Break::Truncated { head_seq: 5, last_seq: 4 }));
    }
}
