//! Bulk copies whose source and destination are one object: a table imported
//! twice (two table indices, one table) and a memory copied onto itself, with
//! overlapping ranges in both directions. The copy must behave as a memmove and
//! check both ranges before it writes anything.

use lazuli::{
    Compilation, Config, Engine, Instance, Linker, MemoryStyle, Module, Store, TypedFunc,
    Validation,
};

/// Exports a table of `TABLE_LEN` funcrefs; after `fill`, element `i` returns `i % 8`.
const TABLE_OWNER: &str = r#"(module
  (type $v (func (result i32)))
  (table (export "t") 64 funcref)
  (func $f0 (result i32) i32.const 0)  (func $f1 (result i32) i32.const 1)
  (func $f2 (result i32) i32.const 2)  (func $f3 (result i32) i32.const 3)
  (func $f4 (result i32) i32.const 4)  (func $f5 (result i32) i32.const 5)
  (func $f6 (result i32) i32.const 6)  (func $f7 (result i32) i32.const 7)
  (func (export "fill")
    (local $i i32)
    (loop $l
      (table.set (local.get $i)
        (table.get (i32.rem_u (local.get $i) (i32.const 8))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 64)))))
  (elem (i32.const 0) $f0 $f1 $f2 $f3 $f4 $f5 $f6 $f7))"#;

const TABLE_LEN: u32 = 64;

/// Imports that table twice and copies between the two indices.
const TABLE_USER: &str = r#"(module
  (type $v (func (result i32)))
  (import "a" "t" (table $t0 64 funcref))
  (import "a" "t" (table $t1 64 funcref))
  (func (export "copy_1_to_0") (param i32 i32 i32)
    (table.copy $t0 $t1 (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy_0_to_1") (param i32 i32 i32)
    (table.copy $t1 $t0 (local.get 0) (local.get 1) (local.get 2)))
  (func (export "get") (param i32) (result i32)
    (call_indirect $t1 (type $v) (local.get 0))))"#;

/// `(dst, src, len)` → a bulk copy.
type CopyFunc = TypedFunc<(u32, u32, u32), ()>;

struct TwoIndices {
    store: Store<()>,
    copy_1_to_0: CopyFunc,
    copy_0_to_1: CopyFunc,
    get: TypedFunc<u32, i32>,
}

fn one_table_imported_twice(config: &Config) -> TwoIndices {
    let engine = Engine::new(config).unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let owner = Module::new(&engine, TABLE_OWNER).unwrap();
    let owner = linker.instantiate(&mut store, &owner).unwrap();
    owner
        .get_typed_func::<(), ()>(&mut store, "fill")
        .unwrap()
        .call(&mut store, ())
        .unwrap();
    linker.instance(&mut store, "a", owner).unwrap();
    let user = Module::new(&engine, TABLE_USER).unwrap();
    let user = linker.instantiate(&mut store, &user).unwrap();
    let func = |store: &mut Store<()>, name| user.get_typed_func(store, name).unwrap();
    TwoIndices {
        copy_1_to_0: func(&mut store, "copy_1_to_0"),
        copy_0_to_1: func(&mut store, "copy_0_to_1"),
        get: user.get_typed_func(&mut store, "get").unwrap(),
        store,
    }
}

impl TwoIndices {
    /// What each element's function returns.
    fn contents(&mut self) -> Vec<i32> {
        (0..TABLE_LEN)
            .map(|i| self.get.call(&mut self.store, i).unwrap())
            .collect()
    }
}

/// `before` after a memmove of `len` items from `src` to `dst`.
fn memmove<T: Clone>(before: &[T], dst: usize, src: usize, len: usize) -> Vec<T> {
    let mut after = before.to_vec();
    after[dst..dst + len].clone_from_slice(&before[src..src + len]);
    after
}

/// The default, eager compilation, lazy validation and bounds-checked memories.
fn configs() -> Vec<Config> {
    let mut eager = Config::new();
    eager.compilation(Compilation::Eager);
    let mut lazy_validation = Config::new();
    lazy_validation.validation(Validation::Lazy);
    let mut bounds_checked = Config::new();
    bounds_checked.memory_style(MemoryStyle::BoundsChecked);
    vec![Config::new(), eager, lazy_validation, bounds_checked]
}

/// Copies between the two indices, one way then the other, each time with
/// overlapping ranges moving up (dst > src) and down (dst < src).
#[test]
fn table_copy_between_two_imports_of_one_table_is_a_memmove() {
    type Direction = fn(&TwoIndices) -> &CopyFunc;
    let directions: [Direction; 2] = [|t| &t.copy_1_to_0, |t| &t.copy_0_to_1];
    for config in configs() {
        for copy in directions {
            for (dst, src, len) in [(3, 0, 50), (0, 3, 50), (1, 0, 63), (0, 1, 63)] {
                let mut t = one_table_imported_twice(&config);
                let before = t.contents();
                let f = *copy(&t);
                f.call(&mut t.store, (dst, src, len)).unwrap();
                let expected = memmove(&before, dst as usize, src as usize, len as usize);
                assert_eq!(t.contents(), expected, "copy({dst}, {src}, {len})");
            }
        }
    }
}

/// An out-of-bounds copy between the two indices traps and writes nothing, even
/// when the part of it that is in bounds overlaps.
#[test]
fn out_of_bounds_table_copy_between_two_imports_writes_nothing() {
    for config in configs() {
        let mut t = one_table_imported_twice(&config);
        let before = t.contents();
        for (dst, src, len) in [(10, 0, 60), (0, 10, 60), (0, 0, 65), (u32::MAX, 0, 2)] {
            let f = t.copy_1_to_0;
            assert!(f.call(&mut t.store, (dst, src, len)).is_err());
            let f = t.copy_0_to_1;
            assert!(f.call(&mut t.store, (dst, src, len)).is_err());
        }
        assert_eq!(t.contents(), before);
    }
}

/// One page whose first 256 bytes are 0, 1, …, 255.
const MEMORY: &str = r#"(module
  (memory (export "m") 1)
  (func (export "init")
    (local $i i32)
    (loop $l
      (i32.store8 (local.get $i) (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 256)))))
  (func (export "copy") (param i32 i32 i32)
    (memory.copy (local.get 0) (local.get 1) (local.get 2))))"#;

fn memory_instance(config: &Config) -> (Store<()>, Instance, CopyFunc) {
    let engine = Engine::new(config).unwrap();
    let mut store = Store::new(&engine, ());
    let module = Module::new(&engine, MEMORY).unwrap();
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    instance
        .get_typed_func::<(), ()>(&mut store, "init")
        .unwrap()
        .call(&mut store, ())
        .unwrap();
    let copy = instance.get_typed_func(&mut store, "copy").unwrap();
    (store, instance, copy)
}

fn first_bytes(store: &mut Store<()>, instance: Instance) -> Vec<u8> {
    let memory = instance.get_memory(&mut *store, "m").unwrap();
    memory.data(&*store)[..256].to_vec()
}

#[test]
fn overlapping_memory_copy_is_a_memmove_both_ways() {
    for config in configs() {
        for (dst, src, len) in [(7, 0, 200), (0, 7, 200), (1, 0, 255), (0, 1, 255)] {
            let (mut store, instance, copy) = memory_instance(&config);
            let before = first_bytes(&mut store, instance);
            copy.call(&mut store, (dst, src, len)).unwrap();
            let expected = memmove(&before, dst as usize, src as usize, len as usize);
            assert_eq!(first_bytes(&mut store, instance), expected);
        }
    }
}

#[test]
fn out_of_bounds_memory_copy_writes_nothing() {
    const PAGE: u32 = 65536;
    for config in configs() {
        let (mut store, instance, copy) = memory_instance(&config);
        let before = first_bytes(&mut store, instance);
        for (dst, src, len) in [(PAGE - 100, 0, 101), (0, PAGE - 100, 101), (1, 0, PAGE)] {
            assert!(copy.call(&mut store, (dst, src, len)).is_err());
        }
        assert_eq!(first_bytes(&mut store, instance), before);
    }
}
