//! The Lazuli configurations every module runs in, one engine each, created once
//! per process and shared by all cases (as a host embedding Lazuli shares them).

use lazuli::{Compilation, Config, Engine, MemoryStyle, Tiering, Validation};
use std::sync::OnceLock;

/// At the optimising tier: lazy/eager compilation × guarded/bounds-checked memory ×
/// eager/lazy validation (8); at the fast tier the same without the validation
/// dimension, which the tier does not touch (4); and tiered, likewise (4), with a
/// tier-up budget of 1 and no background compilation: a function's first call runs
/// its fast code and every later call, deterministically, its optimised code, so
/// that the calls of a case compare the two tiers and the switch between them;
/// and tiered with a budget of 7 (lazy compilation with guarded memory, eager with
/// bounds-checked memory), so that loops use it up inside a call and the running
/// call continues in an OSR entry (2).
pub const CONFIG_COUNT: usize = 18;

/// The tier-up budget of the OSR configurations: small enough that a few loop
/// iterations use it up, larger than one call so that loops, not calls, do.
const OSR_BUDGET: u32 = 7;

/// One configuration and its engine.
pub struct Setup {
    pub name: String,
    pub validation: Validation,
    pub engine: Engine,
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
                        setups.push(setup(tiering, compilation, style, validation));
                    }
                }
            }
        }
        for (compilation, style) in [
            (Compilation::Lazy, MemoryStyle::Guarded),
            (Compilation::Eager, MemoryStyle::BoundsChecked),
        ] {
            setups.push(osr_setup(compilation, style));
        }
        debug_assert_eq!(setups.len(), CONFIG_COUNT);
        setups
    })
}

/// A configuration whose loops enter OSR entries (`OSR_BUDGET`).
fn osr_setup(compilation: Compilation, style: MemoryStyle) -> Setup {
    let mut config = base_config(Tiering::Auto, compilation, style, Validation::Eager);
    config
        .tier_up_budget(OSR_BUDGET)
        .tier_up_small_functions(0)
        .background_compilation(false);
    Setup {
        name: format!(
            "Auto tier with OSR (budget {OSR_BUDGET}, no background compilation), \
             {compilation:?} compilation, {style:?} memory"
        ),
        validation: Validation::Eager,
        engine: engine(&config),
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

fn setup(
    tiering: Tiering,
    compilation: Compilation,
    style: MemoryStyle,
    validation: Validation,
) -> Setup {
    let mut config = base_config(tiering, compilation, style, validation);
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
            "{tier}, {compilation:?} compilation, {style:?} memory, {validation:?} validation"
        ),
        validation,
        engine,
    }
}
