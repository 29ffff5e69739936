//! Lazuli's side of the differential check: the reference's calls replayed in
//! every configuration, each observation compared with wasmi's.

use crate::Outcome;
use crate::engines::{self, Setup};
use crate::referee;
use crate::reference::{self, Exports, State, Trace};
use crate::value::{self, Failure};
use lazuli::{Instance, Module, Store, Val};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `bytes` (a valid module) in wasmi, then in Lazuli in every configuration.
pub fn check_everywhere(bytes: &[u8]) -> Outcome {
    let Some(trace) = reference_trace(bytes) else {
        return Outcome::ok(0);
    };
    let mut executions = 0;
    for setup in engines::all() {
        executions += 1;
        if let Err(message) = replay(setup, bytes, &trace) {
            let message = format!("{}: {message}", setup.name);
            return match wasmtime_agrees_everywhere(bytes) {
                true => Outcome::disputed(executions, message),
                false => Outcome::diverged(executions, message),
            };
        }
    }
    Outcome::ok(executions)
}

/// What Lazuli must observe running `bytes`: wasmi's trace, or Wasmtime's where
/// wasmi panics on the module (a bug of wasmi's, which says nothing about
/// Lazuli: `tests/regressions/seed_0x32a5.wasm`); `None` when the reference
/// cannot run the module.
fn reference_trace(bytes: &[u8]) -> Option<Trace> {
    match catch_unwind(AssertUnwindSafe(|| reference::run(bytes))) {
        Ok(trace) => trace,
        Err(_) => referee::run(bytes),
    }
}

/// Whether Wasmtime can run `bytes` and every configuration agrees with it.
fn wasmtime_agrees_everywhere(bytes: &[u8]) -> bool {
    let Some(trace) = referee::run(bytes) else {
        return false;
    };
    engines::all()
        .iter()
        .all(|setup| replay(setup, bytes, &trace).is_ok())
}

/// Replays `trace` in one configuration: the first disagreement, if any.
fn replay(setup: &Setup, bytes: &[u8], trace: &Trace) -> Result<(), String> {
    let module =
        Module::new(&setup.engine, bytes).map_err(|e| format!("valid module rejected: {e:#}"))?;
    let mut store = setup.store();
    let instance = Instance::new(&mut store, &module, &[]).map_err(|e| value::lazuli_failure(&e));
    let instance = match (instance, &trace.instantiation) {
        (Ok(instance), Ok(expected)) => {
            compare_state(&mut store, &instance, &trace.exports, expected)
                .map_err(|m| format!("after instantiation: {m}"))?;
            instance
        }
        // The two stack limits differ: nothing is comparable.
        (Err(f), _) if f.is_stack_exhaustion() => return Ok(()),
        (_, Err(f)) if f.is_stack_exhaustion() => return Ok(()),
        (Err(got), Err(expected)) => return compare_failures(&got, expected, "instantiation"),
        (Ok(_), Err(expected)) => {
            return Err(format!("instantiation succeeded, wasmi: {expected:?}"));
        }
        (Err(got), Ok(_)) => {
            return Err(format!("instantiation failed ({got:?}), wasmi succeeded"));
        }
    };
    for (i, call) in trace.calls.iter().enumerate() {
        let what = format!("call #{i} {:?}{:?}", call.func, call.args);
        let Some(func) = instance.get_func(&mut store, &call.func) else {
            return Err(format!("{what}: no such export"));
        };
        let args: Vec<Val> = call.args.iter().map(|v| value::to_lazuli(*v)).collect();
        let mut results: Vec<Val> = func.ty(&store).results().map(Val::default_for).collect();
        let got = match func.call(&mut store, &args, &mut results) {
            Ok(()) => Ok(results.iter().map(value::from_lazuli).collect::<Vec<_>>()),
            Err(e) => Err(value::lazuli_failure(&e)),
        };
        match (&got, &call.result) {
            // The two stack limits differ: nothing after this is comparable.
            (Err(f), _) | (_, Err(f)) if f.is_stack_exhaustion() => return Ok(()),
            (Ok(got), Ok(expected)) if got != expected => {
                return Err(format!("{what}: returned {got:?}, wasmi {expected:?}"));
            }
            (Ok(_), Ok(_)) => {}
            (Err(got), Err(expected)) => compare_failures(got, expected, &what)?,
            (got, expected) => return Err(format!("{what}: {got:?}, wasmi {expected:?}")),
        }
        compare_state(&mut store, &instance, &trace.exports, &call.state)
            .map_err(|m| format!("after {what}: {m}"))?;
    }
    Ok(())
}

/// Two failures agree if they are traps of one kind; any other error of Lazuli's
/// is a divergence (wasmi's own non-trap errors are not comparable).
fn compare_failures(got: &Failure, expected: &Failure, what: &str) -> Result<(), String> {
    match (got, expected) {
        (Failure::Trap(a), Failure::Trap(b)) if a == b => Ok(()),
        (Failure::Trap(_), Failure::Other(_)) => Ok(()),
        _ => Err(format!("{what}: failed with {got:?}, wasmi {expected:?}")),
    }
}

/// Compares the exported memories, globals and tables with `expected`.
fn compare_state(
    store: &mut Store<()>,
    instance: &Instance,
    exports: &Exports,
    expected: &State,
) -> Result<(), String> {
    for (name, want) in exports.memories.iter().zip(&expected.memories) {
        let memory = instance
            .get_memory(&mut *store, name)
            .ok_or_else(|| format!("memory {name:?} is not exported"))?;
        let got = memory.data(&*store);
        if got != &want[..] {
            return Err(memory_difference(name, got, want));
        }
    }
    for (name, want) in exports.globals.iter().zip(&expected.globals) {
        let global = instance
            .get_global(&mut *store, name)
            .ok_or_else(|| format!("global {name:?} is not exported"))?;
        let got = value::from_lazuli(&global.get(&mut *store));
        if got != *want {
            return Err(format!("global {name:?} is {got:?}, wasmi {want:?}"));
        }
    }
    for (name, want) in exports.tables.iter().zip(&expected.tables) {
        let table = instance
            .get_table(&mut *store, name)
            .ok_or_else(|| format!("table {name:?} is not exported"))?;
        let got: Vec<bool> = (0..table.size(&*store))
            .map(|i| table.get(&mut *store, i).is_none_or(|r| is_null(&r)))
            .collect();
        if got != *want {
            return Err(format!("table {name:?} nulls {got:?}, wasmi {want:?}"));
        }
    }
    Ok(())
}

fn is_null(r: &lazuli::Ref) -> bool {
    match r {
        lazuli::Ref::Func(f) => f.is_none(),
        lazuli::Ref::Extern(e) => e.is_none(),
    }
}

fn memory_difference(name: &str, got: &[u8], want: &[u8]) -> String {
    if got.len() != want.len() {
        return format!(
            "memory {name:?} is {} bytes, wasmi {}",
            got.len(),
            want.len()
        );
    }
    let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(0);
    format!(
        "memory {name:?} differs at {at:#x}: {:#04x}, wasmi {:#04x}",
        got[at], want[at]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;
    use lazuli::Trap;

    const MODULE: &str = r#"(module
        (memory (export "m") 1 1)
        (global $g (export "g") (mut i32) (i32.const 0))
        (func (export "f") (param i32) (result i32)
            (i32.store8 (i32.const 3) (local.get 0))
            (global.set $g (local.get 0))
            (i32.div_u (i32.const 100) (local.get 0))))"#;

    /// The reference trace of [`MODULE`] and the result of replaying it, tampered
    /// with by `tamper`, in the first configuration.
    fn replay_tampered(tamper: impl FnOnce(&mut Trace)) -> Result<(), String> {
        let bytes = wat::parse_str(MODULE).unwrap();
        let mut trace = reference::run(&bytes).unwrap();
        tamper(&mut trace);
        replay(&engines::all()[0], &bytes, &trace)
    }

    #[test]
    fn an_untouched_trace_replays_in_every_configuration() {
        let bytes = wat::parse_str(MODULE).unwrap();
        assert_eq!(
            check_everywhere(&bytes),
            Outcome::ok(engines::CONFIG_COUNT as u64)
        );
    }

    #[test]
    fn a_different_result_is_a_divergence() {
        // Call #1 is f(1) = 100.
        let err = replay_tampered(|t| t.calls[1].result = Ok(vec![Value::I32(99)])).unwrap_err();
        assert!(
            err.contains("returned [I32(100)], wasmi [I32(99)]"),
            "{err}"
        );
    }

    #[test]
    fn a_value_where_the_reference_trapped_is_a_divergence() {
        // Call #0 is f(0): division by zero.
        assert_eq!(
            trace_result(0),
            Err(Failure::Trap(Trap::IntegerDivisionByZero))
        );
        let err = replay_tampered(|t| t.calls[0].result = Ok(vec![Value::I32(0)])).unwrap_err();
        assert!(err.contains("call #0"), "{err}");
    }

    #[test]
    fn a_different_trap_kind_is_a_divergence() {
        let err = replay_tampered(|t| {
            t.calls[0].result = Err(Failure::Trap(Trap::IntegerOverflow));
        })
        .unwrap_err();
        assert!(err.contains("IntegerOverflow"), "{err}");
    }

    #[test]
    fn different_memory_bytes_are_a_divergence() {
        let err = replay_tampered(|t| t.calls[1].state.memories[0][3] = 7).unwrap_err();
        assert!(
            err.contains("memory \"m\" differs at 0x3: 0x01, wasmi 0x07"),
            "{err}"
        );
    }

    #[test]
    fn a_different_global_is_a_divergence() {
        let err = replay_tampered(|t| t.calls[1].state.globals[0] = Value::I32(5)).unwrap_err();
        assert!(
            err.contains("global \"g\" is I32(1), wasmi I32(5)"),
            "{err}"
        );
    }

    #[test]
    fn stack_exhaustion_on_either_side_ends_the_comparison() {
        // Call #1 returned 100; a reference that ran out of stack there is not
        // compared any further, even with a wrong memory afterwards.
        replay_tampered(|t| {
            t.calls[1].result = Err(Failure::Trap(Trap::StackOverflow));
            t.calls[2].state.memories[0][3] = 7;
        })
        .unwrap();
    }

    fn trace_result(i: usize) -> Result<Vec<Value>, Failure> {
        let bytes = wat::parse_str(MODULE).unwrap();
        reference::run(&bytes).unwrap().calls[i].result.clone()
    }
}
