//! Deterministic pseudo-randomness for jitter.
//!
//! Jitter only needs to spread load, not to be unpredictable, so it is derived from the
//! identity of what is being jittered (a job and attempt, a schedule and fire time). The
//! same inputs give the same delays, which keeps simulations reproducible.

/// A number in `[0, 1)` mixed from `seed` (a 128-bit multiply-xorshift).
pub(crate) fn unit_fraction(seed: u128) -> f64 {
    let mixed = (seed ^ (seed >> 67)).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
    let mixed = mixed ^ (mixed >> 61);
    (mixed >> 75) as f64 / (1u64 << 53) as f64
}

/// A 128-bit seed from a string and a number (FNV-1a over the bytes, then the number).
pub(crate) fn seed(text: &str, number: i64) -> u128 {
    let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for byte in text.bytes().chain(number.to_le_bytes()) {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013B);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_spread_over_the_unit_interval() {
        let values: Vec<f64> = (0..10_000)
            .map(|i| unit_fraction(seed("schedule", i)))
            .collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        for bucket in 0..10 {
            let lo = f64::from(bucket) / 10.0;
            let count = values
                .iter()
                .filter(|v| **v >= lo && **v < lo + 0.1)
                .count();
            assert!((800..1200).contains(&count), "bucket {bucket}: {count}");
        }
        assert_eq!(unit_fraction(seed("a", 1)), unit_fraction(seed("a", 1)));
        assert_ne!(unit_fraction(seed("a", 1)), unit_fraction(seed("a", 2)));
    }
}
