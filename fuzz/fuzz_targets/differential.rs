//! cargo-fuzz entry point of the `differential` target (`cargo fuzz run differential --features libfuzzer`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(message) = lazuli_fuzz::differential(data).divergence {
        panic!("divergence: {message}");
    }
});
