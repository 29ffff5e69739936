//! The Lazuli configurations every module runs in, one engine each, created once
//! per process and shared by all cases (as a host embedding Lazuli shares them).

use lazuli::{Compilation, Config, Engine, MemoryStyle, Store, Tiering, Validation};
use std::sync::OnceLock;

/// At the optimising tier: lazy/eager compilation × guarded/bounds-checked memory ×
/// eager/lazy validation (8); at the fast tier the same without the validation
/// dimension, which the tier does not touch (4); and tiered, likewise (4), with a
/// tier-up budget of 1 and no background compilation: a function's first call runs
/// its fast code and every later call, deterministically, its optimised code, so
/// that the calls of a case compare the two tiers and the switch between them;
/// and tiered with a budget of 7 (lazy compilation with guarded memory, eager with
/// bounds-checked memory), so that loops use it up inside a call and the running
/// call continues in an OSR entry (2); and, consuming fuel and checking epochs
/// (with fuel that does not run out and a deadline nothing reaches), the second
/// of those OSR configurations and the optimising tier with lazy compilation,
/// guarded memory and eager validation (2).
pub const CONFIG_COUNT: usize = 20;

/// The tier-up budget of the OSR configurations: small enough that a few loop
/// iterations use it up, larger than one call so that loops, not calls, do.
const OSR_BUDGET: u32 = 7;

/// One configuration and its engine.
pub struct Setup {
    pub name: String,
    pub validation: Validation,
    pub engine: Engine,
    /// Whether the engine consumes fuel and checks epochs.
    interrupts: bool,
}

impl Setup {
    /// A new store of the engine, given fuel that does not run out and a
    /// deadline that is not reached if the engine consumes fuel and checks
    /// epochs.
    pub fn store(&self) -> Store<()> {
        let mut store = Store::new(&self.engine, ());
        if self.interrupts {
            // Cannot fail: the engine consumes fuel.
            let _ = store.set_fuel(u64::MAX);
            store.set_epoch_deadline(u64::MAX);
        }
        store
    }
}

/// The engines of every configuration, created on first use.
pub fn all() -> &'static [Setup] {
    static SETUPS: OnceLock<Vec<Setup>> = OnceLock::new();
    SETUPS.get_or_init(|| {
        let mut setups = Vec::with_capacity(CONFIG_COUNT);
        for tiering in [Tiering::Optimized, Tiering::Fast, Tiering::Auto] {
            let validations = match tiering {
                Tiering::Optimized => &[Validation::Eager, Validation::Lazy][..],
                Tiering::Fast | Tiering::Auto => &[Validation::Eager][..],
            };
            for compilation in [Compilation::Lazy, Compilation::Eager] {
                for style in [MemoryStyle::Guarded, MemoryStyle::BoundsChecked] {
                    for &validation in validations {
                        setups.push(setup(tiering, compilation, style, validation, false));
                    }
                }
            }
        }
        for (compilation, style) in [
            (Compilation::Lazy, MemoryStyle::Guarded),
            (Compilation::Eager, MemoryStyle::BoundsChecked),
        ] {
            setups.push(osr_setup(compilation, style, false));
        }
        setups.push(osr_setup(
            Compilation::Eager,
            MemoryStyle::BoundsChecked,
            true,
        ));
        setups.push(setup(
            Tiering::Optimized,
            Compilation::Lazy,
            MemoryStyle::Guarded,
            Validation::Eager,
            true,
        ));
        debug_assert_eq!(setups.len(), CONFIG_COUNT);
        setups
    })
}

/// A configuration whose loops enter OSR entries (`OSR_BUDGET`).
fn osr_setup(compilation: Compilation, style: MemoryStyle, interrupts: bool) -> Setup {
    let mut config = base_config(Tiering::Auto, compilation, style, Validation::Eager);
    config
        .consume_fuel(interrupts)
        .epoch_interruption(interrupts);
    config
        .tier_up_budget(OSR_BUDGET)
        .tier_up_small_functions(0)
        .background_compilation(false);
    Setup {
        name: format!(
            "Auto tier with OSR (budget {OSR_BUDGET}, no background compilation), \
             {compilation:?} compilation, {style:?} memory{}",
            interrupts_suffix(interrupts)
        ),
        validation: Validation::Eager,
        engine: engine(&config),
        interrupts,
    }
}

fn base_config(
    tiering: Tiering,
    compilation: Compilation,
    style: MemoryStyle,
    validation: Validation,
) -> Config {
    let mut config = Config::new();
    config
        .tiering(tiering)
        .compilation(compilation)
        .memory_style(style)
        .validation(validation)
        // Fuzzing is where the IR verifier pays for itself, in release builds too.
        .cranelift_verifier(true);
    config
}

fn engine(config: &Config) -> Engine {
    match Engine::new(config) {
        Ok(engine) => engine,
        // No engine means no fuzzing at all: nothing to recover.
        Err(e) => panic!("cannot create a Lazuli engine: {e:#}"),
    }
}

/// What the name of a configuration that consumes fuel and checks epochs ends
/// with.
fn interrupts_suffix(interrupts: bool) -> &'static str {
    if interrupts { ", fuel and epochs" } else { "" }
}

fn setup(
    tiering: Tiering,
    compilation: Compilation,
    style: MemoryStyle,
    validation: Validation,
    interrupts: bool,
) -> Setup {
    let mut config = base_config(tiering, compilation, style, validation);
    config
        .consume_fuel(interrupts)
        .epoch_interruption(interrupts);
    let tier = match tiering {
        Tiering::Auto => {
            config
                .tier_up_budget(1)
                .tier_up_small_functions(0)
                .background_compilation(false);
            "Auto tier (budget 1, no background compilation)".to_string()
        }
        other => format!("{other:?} tier"),
    };
    let engine = engine(&config);
    Setup {
        name: format!(
            "{tier}, {compilation:?} compilation, {style:?} memory, {validation:?} validation{}",
            interrupts_suffix(interrupts)
        ),
        validation,
        engine,
        interrupts,
    }
}
