//! Several memories in one module (Wasm 3.0 multi-memory): defined and imported,
//! each instruction on the memory it names, bulk copies between them, growth and
//! bounds per memory, at every tier, compilation mode and memory style; on by
//! default and refused when turned off.

mod support;
use support::{BOTH_STYLES, configs};

use lazuli::{Config, Engine, Instance, Memory, MemoryType, Module, Store, Trap};

/// Memory 0 is imported (one page), 1 and 2 are defined (one and two pages).
const THREE: &str = r#"(module
  (import "env" "mem" (memory $a 1))
  (memory $b (export "b") 1 3)
  (memory $c (export "c") 2)
  (data (memory $b) (i32.const 8) "\01\02\03\04")
  (func (export "store") (param $which i32) (param $at i32) (param $v i32)
    (block $two (block $one (block $zero
      (br_table $zero $one $two (local.get $which)))
      (i32.store $a (local.get $at) (local.get $v)) (return))
      (i32.store $b (local.get $at) (local.get $v)) (return))
    (i32.store $c (local.get $at) (local.get $v)))
  (func (export "load_b") (param i32) (result i32) (i32.load $b (local.get 0)))
  (func (export "load_c") (param i32) (result i32) (i32.load $c (local.get 0)))
  ;; Copies n bytes from $b at src to $c at dst.
  (func (export "copy_b_to_c") (param $dst i32) (param $src i32) (param $n i32)
    (memory.copy $c $b (local.get $dst) (local.get $src) (local.get $n)))
  (func (export "fill_a") (param i32 i32 i32) (memory.fill $a (local.get 0) (local.get 1) (local.get 2)))
  (func (export "grow_b") (param i32) (result i32) (memory.grow $b (local.get 0)))
  (func (export "sizes") (result i32 i32 i32)
    (memory.size $a) (memory.size $b) (memory.size $c)))
"#;

/// An instance of [`THREE`] in a store of its own, with the memory it imports.
fn instantiate(config: &Config) -> (Store<()>, Instance, Memory) {
    let engine = Engine::new(config).unwrap();
    let module = Module::new(&engine, THREE).unwrap();
    let mut store = Store::new(&engine, ());
    let a = Memory::new(&mut store, MemoryType::new(1, None)).unwrap();
    let instance = Instance::new(&mut store, &module, &[a.into()]).unwrap();
    (store, instance, a)
}

#[test]
fn each_instruction_reaches_the_memory_it_names_at_every_tier() {
    for (name, config) in configs(&BOTH_STYLES) {
        let (mut store, instance, a) = instantiate(&config);
        let store_at = instance
            .get_typed_func::<(i32, i32, i32), ()>(&mut store, "store")
            .unwrap();
        for which in 0..3 {
            store_at.call(&mut store, (which, 100, 10 + which)).unwrap();
        }
        let b = instance.get_memory(&mut store, "b").unwrap();
        let c = instance.get_memory(&mut store, "c").unwrap();
        assert_eq!(a.data(&store)[100], 10, "{name}");
        assert_eq!(b.data(&store)[100], 11, "{name}");
        assert_eq!(c.data(&store)[100], 12, "{name}");
        assert_eq!(
            &b.data(&store)[8..12],
            &[1, 2, 3, 4],
            "{name}: b's data segment"
        );
        assert_eq!(c.data(&store)[8], 0, "{name}: only b has the segment");

        let copy = instance.get_typed_func::<(i32, i32, i32), ()>(&mut store, "copy_b_to_c");
        copy.unwrap().call(&mut store, (70_000, 8, 4)).unwrap();
        let load_c = instance
            .get_typed_func::<i32, i32>(&mut store, "load_c")
            .unwrap();
        assert_eq!(
            load_c.call(&mut store, 70_000).unwrap(),
            0x0403_0201,
            "{name}"
        );
        let fill = instance.get_typed_func::<(i32, i32, i32), ()>(&mut store, "fill_a");
        fill.unwrap().call(&mut store, (200, 0x5a, 3)).unwrap();
        assert_eq!(&a.data(&store)[200..204], &[0x5a, 0x5a, 0x5a, 0], "{name}");
    }
}

#[test]
fn each_memory_grows_and_bounds_its_accesses_on_its_own() {
    for (name, config) in configs(&BOTH_STYLES) {
        let (mut store, instance, _) = instantiate(&config);
        let sizes = instance
            .get_typed_func::<(), (i32, i32, i32)>(&mut store, "sizes")
            .unwrap();
        assert_eq!(sizes.call(&mut store, ()).unwrap(), (1, 1, 2), "{name}");
        let load_b = instance
            .get_typed_func::<i32, i32>(&mut store, "load_b")
            .unwrap();
        let load_c = instance
            .get_typed_func::<i32, i32>(&mut store, "load_c")
            .unwrap();
        // 70,000 is past b's one page but inside c's two.
        assert_eq!(load_c.call(&mut store, 70_000).unwrap(), 0, "{name}");
        let err = load_b.call(&mut store, 70_000).unwrap_err();
        assert_eq!(
            err.downcast_ref::<Trap>(),
            Some(&Trap::MemoryOutOfBounds),
            "{name}"
        );
        let grow_b = instance
            .get_typed_func::<i32, i32>(&mut store, "grow_b")
            .unwrap();
        assert_eq!(grow_b.call(&mut store, 1).unwrap(), 1, "{name}");
        assert_eq!(
            grow_b.call(&mut store, 5).unwrap(),
            -1,
            "{name}: b's maximum is 3"
        );
        assert_eq!(
            load_b.call(&mut store, 70_000).unwrap(),
            0,
            "{name}: b grew"
        );
        assert_eq!(sizes.call(&mut store, ()).unwrap(), (1, 2, 2), "{name}");
        let copy = instance.get_typed_func::<(i32, i32, i32), ()>(&mut store, "copy_b_to_c");
        let err = copy.unwrap().call(&mut store, (131_070, 8, 4)).unwrap_err();
        assert_eq!(
            err.downcast_ref::<Trap>(),
            Some(&Trap::MemoryOutOfBounds),
            "{name}"
        );
    }
}

#[test]
fn multi_memory_can_be_turned_off() {
    let mut config = Config::new();
    config.wasm_multi_memory(false);
    let engine = Engine::new(&config).unwrap();
    let err = Module::new(&engine, THREE).unwrap_err();
    assert!(format!("{err:#}").contains("multiple memories"), "{err:#}");
    assert!(
        Module::new(&Engine::default(), THREE).is_ok(),
        "on by default"
    );
}
