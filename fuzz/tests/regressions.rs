//! Divergences the fuzz targets found, each as the (minimised) module that shows
//! it, checked the way the `differential` target checks: wasmi against Lazuli in
//! every configuration.

fn check(wat: &str) {
    let bytes = wat::parse_str(wat).unwrap();
    let outcome = lazuli_fuzz::check_module(&bytes);
    assert_eq!(outcome.divergence, None);
    assert_eq!(outcome.executions, lazuli_fuzz::CONFIG_COUNT as u64);
}

/// `cargo xtask fuzz differential --seed 0x100275b --cases 1`: after a call, an
/// i64 global that accumulates the bits of dropped f64 values differs between
/// Lazuli and wasmi. On the unminimised module wasmi's value changes from run to
/// run (Lazuli's does not), so wasmi may be the one at fault.
#[test]
#[ignore = "divergence under investigation, not yet attributed (Lazuli translator or wasmi); see the fuzz report"]
fn seed_0x100275b_dropped_f64_bits_in_a_global() {
    check(include_str!("regressions/seed_0x100275b.wat"));
}
