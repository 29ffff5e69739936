//! The `validate` target: Lazuli accepts exactly the modules wasmparser accepts
//! with the same features, and never panics, whatever the bytes.

use crate::Outcome;
use crate::engines;
use crate::generate;
use arbitrary::Unstructured;
use lazuli::{Module, Validation};
use std::panic::{AssertUnwindSafe, catch_unwind};
use wasmparser::Validator;

/// Checks one input: raw bytes, or a generated module with some bytes mutated.
pub fn validate(data: &[u8]) -> Outcome {
    let mut u = Unstructured::new(data);
    let bytes = match u.int_in_range(0..=3u8) {
        Ok(0) | Err(_) => data.get(1..).unwrap_or_default().to_vec(),
        Ok(_) => match generate::any_module(&mut u) {
            Some(mut bytes) => {
                let len = bytes.len();
                if u.arbitrary().unwrap_or(true) {
                    generate::mutate(&mut u, &mut bytes, 0..len, true, 8);
                }
                bytes
            }
            None => return Outcome::ok(0),
        },
    };
    check(&bytes)
}

/// Compares Lazuli's verdict on `bytes` with wasmparser's, in every configuration.
fn check(bytes: &[u8]) -> Outcome {
    let valid = Validator::new_with_features(generate::LAZULI_FEATURES)
        .validate_all(bytes)
        .is_ok();
    let mut executions = 0;
    for setup in engines::all() {
        executions += 1;
        let result = match catch_unwind(AssertUnwindSafe(|| {
            Module::from_binary(&setup.engine, bytes).map(drop)
        })) {
            Ok(result) => result,
            Err(panic) => {
                return Outcome::diverged(
                    executions,
                    format!(
                        "{}: Module::from_binary panicked: {}",
                        setup.name,
                        crate::panic_message(&*panic)
                    ),
                );
            }
        };
        let accepted = result.is_ok();
        // Lazy validation defers function bodies: it must accept every valid
        // module, and may accept invalid bodies.
        let agrees = match setup.validation {
            Validation::Eager => accepted == valid,
            Validation::Lazy => accepted || !valid,
        };
        if !agrees {
            return Outcome::diverged(
                executions,
                format!(
                    "{}: Lazuli {}, wasmparser {}{}",
                    setup.name,
                    verdict(accepted),
                    verdict(valid),
                    result
                        .err()
                        .map(|e| format!(" ({e:#})"))
                        .unwrap_or_default()
                ),
            );
        }
    }
    Outcome::ok(executions)
}

fn verdict(accepted: bool) -> &'static str {
    if accepted { "accepts" } else { "rejects" }
}
