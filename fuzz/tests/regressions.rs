//! Divergences the fuzz targets found, each as the minimised module that shows it.

use lazuli::{Instance, Module, Val};

/// The module of `cargo xtask fuzz differential --seed 0x100275b --cases 1`,
/// minimised: after each call, the i64 global `"\u{c}"` accumulates the bits of
/// f64 values that pass through `if` parameters. wasmi 2.0.0 disagrees with
/// Lazuli here, and its value changes from one process to the next on the
/// unminimised module; Wasmtime 50 agrees with Lazuli. The divergence is wasmi's:
/// this test pins Lazuli to Wasmtime's values, in every configuration.
#[test]
fn seed_0x100275b_f64_if_parameters_agree_with_wasmtime() {
    const WASMTIME: [i64; 4] = [
        -2200750311694136105,
        -2412419494180549417,
        6810952542674226391,
        2205253911321506600,
    ];
    let wat = include_str!("regressions/seed_0x100275b.wat");
    for setup in lazuli_fuzz::configurations() {
        let module = Module::new(&setup.engine, wat).unwrap();
        let mut store = setup.store();
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let func = instance.get_func(&mut store, "3").unwrap();
        let global = instance.get_global(&mut store, "\u{c}").unwrap();
        for (arg, want) in [0.0, 1.0, -1.0, f64::MIN].into_iter().zip(WASMTIME) {
            let mut result = [Val::V128(0)];
            func.call(&mut store, &[Val::F64(f64::to_bits(arg))], &mut result)
                .unwrap();
            assert_eq!(
                global.get(&mut store),
                Val::I64(want),
                "{}: f({arg})",
                setup.name
            );
        }
    }
}

/// wasmi 2.0.0's wrong answers are disputed, not divergences: Wasmtime, the
/// referee, agrees with every Lazuli configuration, on the module of
/// `seed_0x100275b_f64_if_parameters_agree_with_wasmtime`. (This test used to
/// replay the seeds 0x100275b and 0x20009849 through the generator; once the
/// generator gained tail calls, extended constants and a second memory, the same
/// seeds made other modules, and 0x20009849's module was not kept.)
#[test]
fn wasmi_alone_disagreeing_is_disputed_not_a_divergence() {
    let wat = include_str!("regressions/seed_0x100275b.wat");
    let outcome = lazuli_fuzz::check_module(&wat::parse_str(wat).unwrap());
    assert_eq!(outcome.divergence, None);
    let disputed = outcome.disputed.unwrap_or_default();
    assert!(disputed.contains("wasmi"), "{disputed:?}");
}

/// The module of `cargo xtask fuzz differential --seed 0xb`'s case 0x32a5 (the
/// first run with 64-bit memories in the generator): wasmi 2.0.0's translator
/// panics on it ("a register operand already exists on the stack", in
/// `visit_end` of an `if` with an `else`). A panic of the reference is wasmi's
/// bug, not a divergence: Wasmtime becomes the reference, and every Lazuli
/// configuration is checked against it.
#[test]
fn a_module_wasmi_panics_on_is_checked_against_wasmtime() {
    let bytes = include_bytes!("regressions/seed_0x32a5.wasm");
    let outcome = lazuli_fuzz::check_module(bytes);
    assert_eq!(outcome.divergence, None);
    assert_eq!(outcome.disputed, None);
    assert!(outcome.executions > 0, "nothing was compared");
}
