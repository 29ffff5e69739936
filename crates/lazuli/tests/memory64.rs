//! 64-bit memories and tables (Wasm 3.0 memory64, with table64): `i64`
//! addresses in every access and bulk operation, page counts as `i64`, data and
//! element segments at `i64` offsets, bounds checks that no 64-bit address or
//! offset can wrap around, memories past 4 GiB, `MemoryType::new64` and
//! `TableType::new64` in the embedding API; at every tier, compilation mode and
//! memory style (a 64-bit memory is bounds-checked even in a guarded engine).

mod support;
use support::{BOTH_STYLES, configs, instantiate};

use lazuli::{
    Config, Engine, Instance, Memory, MemoryType, Module, RefType, Store, Table, TableType, Trap,
    Val,
};

/// A two-page 64-bit memory that may grow to four.
const MEMORY: &str = r#"(module
  (memory (export "mem") i64 2 4)
  (data (i64.const 65540) "\2a\00\00\00")
  (func (export "load") (param i64) (result i32) (i32.load (local.get 0)))
  (func (export "load_far") (param i64) (result i32)
    (i32.load offset=0x100000000 (local.get 0)))
  (func (export "load_wrap") (param i64) (result i64) (i64.load offset=16 (local.get 0)))
  (func (export "store") (param i64 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "store8") (param i64 i32) (i32.store8 offset=3 (local.get 0) (local.get 1)))
  (func (export "size") (result i64) (memory.size))
  (func (export "grow") (param i64) (result i64) (memory.grow (local.get 0)))
  (func (export "fill") (param i64 i32 i64) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i64 i64 i64) (memory.copy (local.get 0) (local.get 1) (local.get 2))))
"#;

fn call(
    store: &mut Store<()>,
    instance: &Instance,
    name: &str,
    args: &[Val],
) -> anyhow::Result<Vec<Val>> {
    let func = instance.get_func(&mut *store, name).unwrap();
    let mut results = vec![Val::I32(0); func.ty(&*store).results().len()];
    func.call(&mut *store, args, &mut results)?;
    Ok(results)
}

fn trap(result: anyhow::Result<Vec<Val>>) -> Trap {
    *result.unwrap_err().downcast_ref::<Trap>().expect("a trap")
}

#[test]
fn accesses_take_i64_addresses_and_segments_i64_offsets() {
    for (name, config) in configs(&BOTH_STYLES) {
        let (mut s, i) = instantiate(&config, MEMORY);
        let loaded = call(&mut s, &i, "load", &[Val::I64(65540)]).unwrap();
        assert_eq!(loaded[0].unwrap_i32(), 42, "{name}");
        call(&mut s, &i, "store", &[Val::I64(131_068), Val::I32(-7)]).unwrap();
        let back = call(&mut s, &i, "load", &[Val::I64(131_068)]).unwrap();
        assert_eq!(back[0].unwrap_i32(), -7, "{name}");
        call(&mut s, &i, "store8", &[Val::I64(0), Val::I32(0x55)]).unwrap();
        let mem = i.get_memory(&mut s, "mem").unwrap();
        assert_eq!(mem.data(&s)[3], 0x55, "{name}");
    }
}

#[test]
fn addresses_past_the_end_trap_however_large() {
    for (name, config) in configs(&BOTH_STYLES) {
        let (mut s, i) = instantiate(&config, MEMORY);
        for address in [131_069, 1 << 32, (1 << 32) + 4, i64::MAX, -1, -4] {
            let result = call(&mut s, &i, "load", &[Val::I64(address)]);
            assert_eq!(trap(result), Trap::MemoryOutOfBounds, "{name} at {address}");
            let result = call(&mut s, &i, "store", &[Val::I64(address), Val::I32(1)]);
            assert_eq!(trap(result), Trap::MemoryOutOfBounds, "{name} at {address}");
        }
        // An offset of 2^32 never reaches a two-page memory.
        let result = call(&mut s, &i, "load_far", &[Val::I64(0)]);
        assert_eq!(trap(result), Trap::MemoryOutOfBounds, "{name}");
        // index + offset wraps around 2^64 to a small address: still out of bounds.
        let result = call(&mut s, &i, "load_wrap", &[Val::I64(-16)]);
        assert_eq!(trap(result), Trap::MemoryOutOfBounds, "{name}");
        // A store that trapped wrote nothing.
        assert!(
            i.get_memory(&mut s, "mem").unwrap().data(&s)[131_068..]
                .iter()
                .all(|b| *b == 0)
        );
    }
}

#[test]
fn size_and_grow_count_pages_as_i64() {
    for (name, config) in configs(&BOTH_STYLES) {
        let (mut s, i) = instantiate(&config, MEMORY);
        assert_eq!(
            call(&mut s, &i, "size", &[]).unwrap()[0].unwrap_i64(),
            2,
            "{name}"
        );
        let old = call(&mut s, &i, "grow", &[Val::I64(1)]).unwrap();
        assert_eq!(old[0].unwrap_i64(), 2, "{name}");
        call(&mut s, &i, "store", &[Val::I64(3 * 65536 - 4), Val::I32(9)]).unwrap();
        let refused = call(&mut s, &i, "grow", &[Val::I64(2)]).unwrap();
        assert_eq!(refused[0].unwrap_i64(), -1, "{name}");
        let huge = call(&mut s, &i, "grow", &[Val::I64(1 << 40)]).unwrap();
        assert_eq!(huge[0].unwrap_i64(), -1, "{name}");
        assert_eq!(
            call(&mut s, &i, "size", &[]).unwrap()[0].unwrap_i64(),
            3,
            "{name}"
        );
    }
}

#[test]
fn bulk_operations_take_i64_addresses() {
    for (name, config) in configs(&BOTH_STYLES) {
        let (mut s, i) = instantiate(&config, MEMORY);
        call(
            &mut s,
            &i,
            "fill",
            &[Val::I64(70_000), Val::I32(7), Val::I64(16)],
        )
        .unwrap();
        call(
            &mut s,
            &i,
            "copy",
            &[Val::I64(8), Val::I64(70_000), Val::I64(8)],
        )
        .unwrap();
        let mem = i.get_memory(&mut s, "mem").unwrap();
        assert_eq!(
            &mem.data(&s)[6..18],
            &[0, 0, 7, 7, 7, 7, 7, 7, 7, 7, 0, 0],
            "{name}"
        );
        for args in [
            [Val::I64(1 << 32), Val::I32(1), Val::I64(1)],
            [Val::I64(131_000), Val::I32(1), Val::I64(1 << 33)],
            [Val::I64(-1), Val::I32(1), Val::I64(2)],
        ] {
            let result = call(&mut s, &i, "fill", &args);
            assert_eq!(trap(result), Trap::MemoryOutOfBounds, "{name}");
        }
        let result = call(
            &mut s,
            &i,
            "copy",
            &[Val::I64(0), Val::I64(1 << 32), Val::I64(1)],
        );
        assert_eq!(trap(result), Trap::MemoryOutOfBounds, "{name}");
    }
}

#[test]
fn a_64_bit_memory_grows_past_4_gib() {
    let wat = r#"(module
      (memory (export "mem") i64 65536)
      (func (export "grow") (param i64) (result i64) (memory.grow (local.get 0)))
      (func (export "store") (param i64 i32) (i32.store (local.get 0) (local.get 1)))
      (func (export "load") (param i64) (result i32) (i32.load (local.get 0))))"#;
    let (mut s, i) = instantiate(&Config::new(), wat);
    let far = (1i64 << 32) + 12;
    let result = call(&mut s, &i, "store", &[Val::I64(far), Val::I32(5)]);
    assert_eq!(trap(result), Trap::MemoryOutOfBounds);
    assert_eq!(
        call(&mut s, &i, "grow", &[Val::I64(1)]).unwrap()[0].unwrap_i64(),
        65536
    );
    call(&mut s, &i, "store", &[Val::I64(far), Val::I32(5)]).unwrap();
    assert_eq!(
        call(&mut s, &i, "load", &[Val::I64(far)]).unwrap()[0].unwrap_i32(),
        5
    );
    assert_eq!(i.get_memory(&mut s, "mem").unwrap().size(&s), 65537);
}

#[test]
fn the_embedding_api_makes_and_matches_64_bit_memories() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module (import "env" "mem" (memory i64 1))
             (func (export "load") (param i64) (result i32) (i32.load (local.get 0))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let memory64 = Memory::new(&mut store, MemoryType::new64(1, Some(1 << 20))).unwrap();
    assert!(memory64.ty(&store).is_64());
    assert_eq!(memory64.ty(&store).maximum(), Some(1 << 20));
    memory64.data_mut(&mut store)[100] = 3;
    let instance = Instance::new(&mut store, &module, &[memory64.into()]).unwrap();
    let load = instance
        .get_typed_func::<i64, i32>(&mut store, "load")
        .unwrap();
    assert_eq!(load.call(&mut store, 100).unwrap(), 3);
    let memory32 = Memory::new(&mut store, MemoryType::new(1, None)).unwrap();
    assert!(!memory32.ty(&store).is_64());
    let error = Instance::new(&mut store, &module, &[memory32.into()]).unwrap_err();
    assert!(
        format!("{error:#}").contains("incompatible import"),
        "{error:#}"
    );
}

#[test]
fn memory64_can_be_turned_off() {
    let mut config = Config::new();
    config.wasm_memory64(false);
    let engine = Engine::new(&config).unwrap();
    let error = Module::new(&engine, "(module (memory i64 1))").unwrap_err();
    assert!(format!("{error:#}").contains("memory64"), "{error:#}");
    assert!(Module::new(&Engine::default(), "(module (memory i64 1))").is_ok());
}

/// A 64-bit table of two functions at an `i64` element offset.
const TABLE: &str = r#"(module
  (type $t (func (result i32)))
  (table $tab (export "tab") i64 4 8 funcref)
  (elem (table $tab) (i64.const 1) func $seven $eight)
  (func $seven (result i32) (i32.const 7))
  (func $eight (result i32) (i32.const 8))
  (func (export "call") (param i64) (result i32) (call_indirect $tab (type $t) (local.get 0)))
  (func (export "size") (result i64) (table.size $tab))
  (func (export "grow") (param i64) (result i64) (table.grow $tab (ref.null func) (local.get 0)))
  (func (export "is_null") (param i64) (result i32) (ref.is_null (table.get $tab (local.get 0))))
  (func (export "copy") (param i64 i64 i64) (table.copy $tab $tab (local.get 0) (local.get 1) (local.get 2)))
  (func (export "fill") (param i64 i64) (table.fill $tab (local.get 0) (ref.null func) (local.get 1))))
"#;

#[test]
fn tables_take_i64_indices() {
    for (name, config) in configs(&BOTH_STYLES) {
        let (mut s, i) = instantiate(&config, TABLE);
        assert_eq!(
            call(&mut s, &i, "call", &[Val::I64(1)]).unwrap()[0].unwrap_i32(),
            7,
            "{name}"
        );
        assert_eq!(
            call(&mut s, &i, "call", &[Val::I64(2)]).unwrap()[0].unwrap_i32(),
            8,
            "{name}"
        );
        assert_eq!(
            call(&mut s, &i, "size", &[]).unwrap()[0].unwrap_i64(),
            4,
            "{name}"
        );
        call(&mut s, &i, "copy", &[Val::I64(3), Val::I64(1), Val::I64(1)]).unwrap();
        assert_eq!(
            call(&mut s, &i, "call", &[Val::I64(3)]).unwrap()[0].unwrap_i32(),
            7,
            "{name}"
        );
        assert_eq!(
            call(&mut s, &i, "grow", &[Val::I64(2)]).unwrap()[0].unwrap_i64(),
            4,
            "{name}"
        );
        assert_eq!(
            call(&mut s, &i, "grow", &[Val::I64(3)]).unwrap()[0].unwrap_i64(),
            -1,
            "{name}"
        );
        let null = call(&mut s, &i, "is_null", &[Val::I64(5)]).unwrap();
        assert_eq!(null[0].unwrap_i32(), 1, "{name}");
        call(&mut s, &i, "fill", &[Val::I64(1), Val::I64(1)]).unwrap();
        let result = call(&mut s, &i, "call", &[Val::I64(1)]);
        assert_eq!(trap(result), Trap::IndirectCallToNull, "{name}");
        // 2^32 + 1 is out of bounds, not element 1.
        for index in [6, 1 << 32, (1 << 32) + 1, -1] {
            let result = call(&mut s, &i, "call", &[Val::I64(index)]);
            assert_eq!(trap(result), Trap::TableOutOfBounds, "{name} at {index}");
            let result = call(&mut s, &i, "is_null", &[Val::I64(index)]);
            assert_eq!(trap(result), Trap::TableOutOfBounds, "{name} at {index}");
        }
        let result = call(&mut s, &i, "fill", &[Val::I64(5), Val::I64(1 << 32)]);
        assert_eq!(trap(result), Trap::TableOutOfBounds, "{name}");
    }
}

#[test]
fn the_embedding_api_makes_and_matches_64_bit_tables() {
    let (mut store, instance) = instantiate(&Config::new(), TABLE);
    let tab = instance.get_table(&mut store, "tab").unwrap();
    assert!(tab.ty(&store).is_64());
    assert_eq!(tab.ty(&store).minimum(), 4);
    let module = Module::new(
        store.engine(),
        r#"(module (import "env" "tab" (table i64 1 funcref)))"#,
    )
    .unwrap();
    Instance::new(&mut store, &module, &[tab.into()]).unwrap();
    let ty = TableType::new64(RefType::FUNCREF, 2, None);
    let own = Table::new(&mut store, ty, lazuli::Ref::Func(None)).unwrap();
    assert!(own.ty(&store).is_64());
    Instance::new(&mut store, &module, &[own.into()]).unwrap();
    let table32 = Table::new(
        &mut store,
        TableType::new(RefType::FUNCREF, 2, None),
        lazuli::Ref::Func(None),
    )
    .unwrap();
    assert!(Instance::new(&mut store, &module, &[table32.into()]).is_err());
}
