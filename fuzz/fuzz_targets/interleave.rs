//! cargo-fuzz entry point of the `interleave` target (`cargo fuzz run interleave --features libfuzzer`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(message) = lazuli_fuzz::interleave(data).divergence {
        panic!("divergence: {message}");
    }
});
