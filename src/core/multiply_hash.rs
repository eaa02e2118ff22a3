//! A hasher for keys this crate chooses itself (tids it hands out, addresses it allocated): one
//! multiply, far cheaper than std's SipHash. Remote input may be looked up with it but never
//! decides what is inserted, so there is nothing for a peer to flood.

use std::hash::{BuildHasherDefault, Hasher};

/// `HashMap<K, V, MultiplyHash>` hashes its keys with [`MultiplyHasher`].
pub type MultiplyHash = BuildHasherDefault<MultiplyHasher>;

/// Multiplies the key by 2^64 / golden ratio and folds the product's high half onto the low bits
/// a table indexes by: sequential integers spread over the table, and so do addresses, whose
/// low bits alignment leaves zero.
#[derive(Debug, Default)]
pub struct MultiplyHasher(u64);

impl Hasher for MultiplyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 << 8 | u64::from(b));
        }
    }

    fn write_u16(&mut self, value: u16) {
        self.write_u64(u64::from(value));
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }

    fn write_u64(&mut self, value: u64) {
        let product = value.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = product ^ (product >> 32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    #[test]
    fn sequential_and_aligned_keys_reach_every_low_bit_pattern() {
        let build = MultiplyHash::default();
        let low = |h: u64| h & 0xff;
        let tids: HashSet<u64> = (1..=4096u16).map(|t| low(build.hash_one(t))).collect();
        let addresses: HashSet<u64> = (0..4096usize)
            .map(|i| low(build.hash_one(0x7f00_0000_0000 + i * 64)))
            .collect();
        // 256 buckets' worth of low bits: nearly all in use either way.
        assert!(tids.len() > 240, "{}", tids.len());
        assert!(addresses.len() > 240, "{}", addresses.len());
    }
}
