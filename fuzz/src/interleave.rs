//! The `interleave` target: compiles that fail (mutated bodies under lazy
//! validation, proposals Lazuli does not enable) on the same engines and threads
//! as valid modules, whose behaviour must still agree with wasmi.

use crate::Outcome;
use crate::engines;
use crate::generate;
use crate::replay;
use crate::value::{self, ARGUMENT_SETS};
use arbitrary::Unstructured;
use lazuli::{Instance, Module, Store, Val, Validation};
use wasmparser::{Parser, Payload, Validator};

/// One input: a few rounds of failed compiles, each followed by a valid module
/// checked in every configuration.
pub fn interleave(data: &[u8]) -> Outcome {
    let mut u = Unstructured::new(data);
    let mut executions = 0;
    for _ in 0..u.int_in_range(1..=3).unwrap_or(1) {
        for _ in 0..u.int_in_range(1..=3).unwrap_or(1) {
            match failing_module(&mut u) {
                Some(Failing::Invalid(bytes)) => executions += run_failing(&bytes),
                // A mutation that left the module valid: just another module to check.
                Some(Failing::Valid(bytes)) => {
                    let outcome = replay::check_everywhere(&bytes);
                    executions += outcome.executions;
                    if outcome.divergence.is_some() {
                        return Outcome {
                            executions,
                            ..outcome
                        };
                    }
                }
                Some(Failing::Skip) => {}
                None => break,
            }
        }
        let Some(bytes) = generate::differential_module(&mut u) else {
            break;
        };
        let outcome = replay::check_everywhere(&bytes);
        executions += outcome.executions;
        if let Some(message) = outcome.divergence {
            return Outcome::diverged(executions, format!("after failed compiles: {message}"));
        }
    }
    Outcome::ok(executions)
}

enum Failing {
    /// Does not validate: some function body cannot compile.
    Invalid(Vec<u8>),
    /// A mutated body that still validates: a module like any other.
    Valid(Vec<u8>),
    /// Nothing to run.
    Skip,
}

/// A generated module with one function body mutated in place, or one that may
/// use proposals Lazuli does not enable.
fn failing_module(u: &mut Unstructured<'_>) -> Option<Failing> {
    let mutated = u.arbitrary().ok()?;
    let bytes = if mutated {
        let mut bytes = generate::differential_module(u)?;
        let bodies = body_ranges(&bytes);
        let range = u.choose(&bodies).ok()?.clone();
        generate::mutate(u, &mut bytes, range, false, 4);
        bytes
    } else {
        generate::any_module(u)?
    };
    let valid = Validator::new_with_features(generate::LAZULI_FEATURES)
        .validate_all(&bytes)
        .is_ok();
    Some(match (valid, mutated) {
        (false, _) => Failing::Invalid(bytes),
        (true, true) => Failing::Valid(bytes),
        // It may have imports, which nothing provides.
        (true, false) => Failing::Skip,
    })
}

/// The byte ranges of the function bodies in `bytes`.
fn body_ranges(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    Parser::new(0)
        .parse_all(bytes)
        .filter_map(|payload| match payload {
            Ok(Payload::CodeSectionEntry(body)) => {
                let range = body.range();
                Some(usize::try_from(range.start).ok()?..usize::try_from(range.end).ok()?)
            }
            _ => None,
        })
        .collect()
}

/// Loads an invalid module in every lazy-validation configuration and calls
/// each export, so that the failing bodies are compiled (and fail) on this thread
/// or, with eager compilation, in the pool. The outcomes are not compared: only
/// that nothing they leave behind affects the next module.
fn run_failing(bytes: &[u8]) -> u64 {
    let mut executions = 0;
    for setup in engines::all() {
        if setup.validation != Validation::Lazy {
            continue;
        }
        executions += 1;
        let Ok(module) = Module::new(&setup.engine, bytes) else {
            continue;
        };
        let mut store = setup.store();
        // Imports are not provided: such a module fails here, after loading.
        let Ok(instance) = Instance::new(&mut store, &module, &[]) else {
            continue;
        };
        call_every_export(&mut store, &instance);
    }
    executions
}

/// Calls every exported function once per argument set, ignoring the results.
fn call_every_export(store: &mut Store<()>, instance: &Instance) {
    let funcs: Vec<_> = instance
        .exports(&mut *store)
        .filter_map(|e| e.into_func())
        .collect();
    for func in funcs {
        let ty = func.ty(&*store);
        for set in 0..ARGUMENT_SETS {
            let args: Vec<Val> = ty
                .params()
                .enumerate()
                .map(|(i, t)| value::to_lazuli(value::argument(t, set, i)))
                .collect();
            let mut results: Vec<Val> = ty.results().map(Val::default_for).collect();
            let _ = func.call(&mut *store, &args, &mut results);
        }
    }
}
