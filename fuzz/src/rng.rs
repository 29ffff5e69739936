//! The driver's input source: SplitMix64, a tiny, fast, well-mixed generator. A
//! case is entirely determined by its seed, which is all a reproduction needs.

/// SplitMix64 (Steele, Lea and Flood, 2014).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fills `out` with pseudo-random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// The input of the case with `seed`: between 64 bytes and 8 KiB, so that
/// wasm-smith produces modules from tiny to moderately large.
pub fn case_input(seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let len = 64 + (rng.next_u64() % 8192) as usize;
    let mut bytes = vec![0; len];
    rng.fill(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_always_gives_the_same_input() {
        assert_eq!(case_input(7), case_input(7));
        assert_ne!(case_input(7), case_input(8));
    }
}
