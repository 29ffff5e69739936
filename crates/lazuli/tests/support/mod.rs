//! Helpers the proposal tests share (`mod support;` in each): every
//! configuration a feature must behave the same in, and an instance in a store
//! of its own. Each test binary uses only some of them.
#![allow(dead_code)]

use lazuli::{Compilation, Config, Engine, Instance, MemoryStyle, Module, Store, Tiering};

/// Every tier with both compilation modes, for each memory style of `styles`:
/// tiered code tiers up at once, deterministically, so that loops and calls run
/// optimised code and OSR entries.
pub fn configs(styles: &[MemoryStyle]) -> Vec<(String, Config)> {
    let mut out = Vec::new();
    for tiering in [Tiering::Optimized, Tiering::Fast, Tiering::Auto] {
        for compilation in [Compilation::Lazy, Compilation::Eager] {
            for &style in styles {
                let mut config = Config::new();
                config
                    .tiering(tiering)
                    .compilation(compilation)
                    .memory_style(style);
                if tiering == Tiering::Auto {
                    config.tier_up_budget(1).background_compilation(false);
                }
                out.push((format!("{tiering:?} {compilation:?} {style:?}"), config));
            }
        }
    }
    out
}

/// Both memory styles.
pub const BOTH_STYLES: [MemoryStyle; 2] = [MemoryStyle::Guarded, MemoryStyle::BoundsChecked];

/// An instance of `wat` in a store of its own.
pub fn instantiate(config: &Config, wat: &str) -> (Store<()>, Instance) {
    let engine = Engine::new(config).unwrap();
    let module = Module::new(&engine, wat).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    (store, instance)
}
