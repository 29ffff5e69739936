//! The Lazuli configurations every module runs in, one engine each, created once
//! per process and shared by all cases (as a host embedding Lazuli shares them).

use lazuli::{Compilation, Config, Engine, MemoryStyle, Validation};
use std::sync::OnceLock;

/// lazy/eager compilation × guarded/bounds-checked memory × eager/lazy validation.
pub const CONFIG_COUNT: usize = 8;

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
        for compilation in [Compilation::Lazy, Compilation::Eager] {
            for style in [MemoryStyle::Guarded, MemoryStyle::BoundsChecked] {
                for validation in [Validation::Eager, Validation::Lazy] {
                    setups.push(setup(compilation, style, validation));
                }
            }
        }
        setups
    })
}

fn setup(compilation: Compilation, style: MemoryStyle, validation: Validation) -> Setup {
    let mut config = Config::new();
    config
        .compilation(compilation)
        .memory_style(style)
        .validation(validation)
        // Fuzzing is where the IR verifier pays for itself, in release builds too.
        .cranelift_verifier(true);
    let engine = match Engine::new(&config) {
        Ok(engine) => engine,
        // No engine means no fuzzing at all: nothing to recover.
        Err(e) => panic!("cannot create a Lazuli engine: {e:#}"),
    };
    Setup {
        name: format!("{compilation:?} compilation, {style:?} memory, {validation:?} validation"),
        validation,
        engine,
    }
}
