//! cargo-fuzz entry point of the `validate` target (`cargo fuzz run validate --features libfuzzer`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(message) = lazuli_fuzz::validate(data).divergence {
        panic!("divergence: {message}");
    }
});
