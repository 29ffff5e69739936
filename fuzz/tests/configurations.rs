//! The configurations the fuzz targets run in are the ones `CONFIG_COUNT` documents:
//! in particular, the tiered ones really switch tiers between a case's calls.

use lazuli::{Instance, Module};
use lazuli_fuzz::{CONFIG_COUNT, configurations};

const MODULE: &str = r#"(module
  (func $seven (result i32) i32.const 7)
  (func (export "f") (result i32) (call $seven)))"#;

#[test]
fn there_are_config_count_configurations_with_distinct_names() {
    let mut names: Vec<&str> = configurations().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), CONFIG_COUNT);
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), CONFIG_COUNT, "{names:?}");
}

/// With a budget of 1 and no background compilation, both functions tier up
/// during the first call (synchronously), so the second runs optimised code; the
/// other configurations never tier up.
#[test]
fn only_the_tiered_configurations_tier_up_and_they_do_after_the_first_call() {
    let mut tiered = 0;
    for setup in configurations() {
        let is_tiered = setup.name.starts_with("Auto tier (budget 1");
        tiered += usize::from(is_tiered);
        let module = Module::new(&setup.engine, MODULE).unwrap();
        let mut store = setup.store();
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let f = instance.get_typed_func::<(), i32>(&mut store, "f").unwrap();
        assert_eq!(f.call(&mut store, ()).unwrap(), 7, "{}", setup.name);
        let stats = module.compile_stats();
        let optimized = if is_tiered { 2 } else { 0 };
        assert_eq!(stats.functions_optimized, optimized, "{}", setup.name);
        assert_eq!(f.call(&mut store, ()).unwrap(), 7, "{}", setup.name);
        let stats = module.compile_stats();
        assert_eq!(stats.functions_optimized, optimized, "{}", setup.name);
        assert_eq!(stats.optimize_failures, 0, "{}", setup.name);
    }
    assert_eq!(tiered, 4);
}

/// `(loop)` over 100 iterations: the OSR configurations leave its fast code
/// during the first call; no other configuration compiles an OSR entry.
const LOOP: &str = r#"(module
  (func (export "count") (result i32) (local $i i32)
    (loop $l
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                          (i32.const 100))))
    (local.get $i)))"#;

#[test]
fn only_the_osr_configurations_enter_osr_entries() {
    let mut with_osr = 0;
    for setup in configurations() {
        let is_osr = setup.name.starts_with("Auto tier with OSR");
        with_osr += usize::from(is_osr);
        let module = Module::new(&setup.engine, LOOP).unwrap();
        let mut store = setup.store();
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let count = instance
            .get_typed_func::<(), i32>(&mut store, "count")
            .unwrap();
        assert_eq!(count.call(&mut store, ()).unwrap(), 100, "{}", setup.name);
        let stats = module.compile_stats();
        assert_eq!(stats.osr_entries, usize::from(is_osr), "{}", setup.name);
    }
    assert_eq!(with_osr, 3, "one of them with fuel and epochs");
}

/// `(loop (br 0))`: only the configurations that consume fuel and check epochs
/// stop it, once the deadline `Setup::store` set is moved to now.
const SPIN: &str = r#"(module (func (export "spin") (loop (br 0))))"#;

#[test]
fn only_the_configurations_with_fuel_and_epochs_can_be_interrupted() {
    let mut interrupted = 0;
    for setup in configurations() {
        if !setup.name.ends_with("fuel and epochs") {
            assert!(setup.store().get_fuel().is_err(), "{}", setup.name);
            continue;
        }
        interrupted += 1;
        let module = Module::new(&setup.engine, SPIN).unwrap();
        let mut store = setup.store();
        assert_eq!(store.get_fuel().unwrap(), i64::MAX as u64, "{}", setup.name);
        store.set_epoch_deadline(0);
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let spin = instance
            .get_typed_func::<(), ()>(&mut store, "spin")
            .unwrap();
        let error = spin.call(&mut store, ()).unwrap_err();
        let trap = error.downcast_ref::<lazuli::Trap>();
        assert_eq!(trap, Some(&lazuli::Trap::Interrupt), "{}", setup.name);
    }
    assert_eq!(interrupted, 2);
}
