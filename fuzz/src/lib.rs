//! Fuzz targets for Lazuli. Each target is a plain function from bytes to an
//! [`Outcome`]; the seeded driver (`src/main.rs`, run by `cargo xtask fuzz`) and the
//! cargo-fuzz entry points (`fuzz_targets/*.rs`) both call them.
//!
//! - [`differential`]: a wasm-smith module runs in wasmi (the reference) and in
//!   Lazuli in every configuration; results, traps, memories and globals must agree.
//! - [`validate`]: arbitrary and mutated bytes; Lazuli accepts exactly what
//!   wasmparser accepts and never panics.
//! - [`interleave`]: failed compiles interleaved with valid modules on the same
//!   engines and threads; the valid ones must still agree with wasmi.

#![forbid(unsafe_code)]

mod engines;
mod generate;
mod interleave;
mod referee;
mod reference;
mod replay;
mod validate;
mod value;

pub mod rng;

pub use engines::{CONFIG_COUNT, Setup, all as configurations};
pub use interleave::interleave;
pub use validate::validate;

use arbitrary::Unstructured;

/// What one fuzz case found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// How many module × configuration runs of Lazuli the case made.
    pub executions: u64,
    /// Why Lazuli disagreed with the reference, if it did.
    pub divergence: Option<String>,
    /// Why Lazuli disagreed with wasmi, when Wasmtime agrees with Lazuli
    /// everywhere (`referee.rs`): not a divergence, but reported.
    pub disputed: Option<String>,
}

impl Outcome {
    /// Agreement after `executions` runs.
    pub fn ok(executions: u64) -> Outcome {
        Outcome {
            executions,
            divergence: None,
            disputed: None,
        }
    }

    /// A disagreement with wasmi alone, described by `message`.
    pub fn disputed(executions: u64, message: String) -> Outcome {
        Outcome {
            executions,
            divergence: None,
            disputed: Some(message),
        }
    }

    /// A disagreement, described by `message`.
    pub fn diverged(executions: u64, message: String) -> Outcome {
        Outcome {
            executions,
            divergence: Some(message),
            disputed: None,
        }
    }
}

/// A fuzz target.
pub type Target = fn(&[u8]) -> Outcome;

/// Every target, by name.
pub const TARGETS: [(&str, Target); 3] = [
    ("differential", differential),
    ("validate", validate),
    ("interleave", interleave),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|&(_, t)| t)
}

/// A wasm-smith module runs in wasmi and in Lazuli in all [`CONFIG_COUNT`]
/// configurations; everything observable must agree.
pub fn differential(data: &[u8]) -> Outcome {
    let mut u = Unstructured::new(data);
    let Some(bytes) = generate::differential_module(&mut u) else {
        return Outcome::ok(0);
    };
    replay::check_everywhere(&bytes)
}

/// The module the `differential` target generates from `data`, if any: what a
/// divergence is minimised from (`lazuli-fuzz emit SEED FILE`).
pub fn differential_module(data: &[u8]) -> Option<Vec<u8>> {
    generate::differential_module(&mut Unstructured::new(data))
}

/// The differential check of one module (binary Wasm without imports): the
/// `differential` target without the generator, for regression tests.
pub fn check_module(bytes: &[u8]) -> Outcome {
    replay::check_everywhere(bytes)
}

/// The message of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string payload)".to_string()
    }
}
