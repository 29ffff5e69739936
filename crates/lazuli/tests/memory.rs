//! Linear memories from the host side: the `Memory` API, growth, both bounds
//! modes, and store limits.

use lazuli::{
    Config, Engine, Linker, Memory, MemoryStyle, MemoryType, Module, Store, StoreLimitsBuilder,
    Trap,
};

const WAT: &str = r#"(module
  (memory (export "mem") 1 4)
  (data (i32.const 8) "lazuli")
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size)))"#;

fn engine(style: MemoryStyle) -> Engine {
    let mut config = Config::new();
    config.memory_style(style);
    Engine::new(&config).unwrap()
}

fn check_memory_semantics(style: MemoryStyle) {
    let engine = engine(style);
    let module = Module::new(&engine, WAT).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let mem = instance.get_memory(&mut store, "mem").unwrap();
    assert_eq!(&mem.data(&store)[8..14], b"lazuli", "data segment copied");
    let load = instance
        .get_typed_func::<i32, i32>(&mut store, "load")
        .unwrap();
    let st = instance
        .get_typed_func::<(i32, i32), ()>(&mut store, "store")
        .unwrap();
    let grow = instance
        .get_typed_func::<i32, i32>(&mut store, "grow")
        .unwrap();
    let size = instance
        .get_typed_func::<(), i32>(&mut store, "size")
        .unwrap();
    assert_eq!(load.call(&mut store, 8).unwrap(), b'l' as i32);
    st.call(&mut store, (100, 0x01020304)).unwrap();
    assert_eq!(
        mem.data(&store)[100..104],
        [4, 3, 2, 1],
        "little-endian store"
    );
    // The last byte of the page is accessible, the next is not.
    assert_eq!(load.call(&mut store, 65535).unwrap(), 0);
    let err = load.call(&mut store, 65536).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::MemoryOutOfBounds));
    let err = st.call(&mut store, (65533, 1)).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::MemoryOutOfBounds));
    assert_eq!(
        mem.data(&store)[65533..],
        [0, 0, 0],
        "a faulting store writes nothing"
    );
    // Growing keeps the base and contents; beyond the maximum returns -1.
    let base = mem.data(&store).as_ptr();
    assert_eq!(grow.call(&mut store, 2).unwrap(), 1);
    assert_eq!(size.call(&mut store, ()).unwrap(), 3);
    assert_eq!(mem.data(&store).as_ptr(), base, "the base never moves");
    assert_eq!(load.call(&mut store, 3 * 65536 - 1).unwrap(), 0);
    assert_eq!(grow.call(&mut store, 2).unwrap(), -1);
    assert_eq!(mem.size(&store), 3);
    assert_eq!(mem.grow(&mut store, 1).unwrap(), 3);
    assert!(mem.grow(&mut store, 1).is_err());
    // Host reads and writes are bounds-checked.
    mem.write(&mut store, 200, b"abc").unwrap();
    let mut buf = [0; 3];
    mem.read(&store, 200, &mut buf).unwrap();
    assert_eq!(&buf, b"abc");
    assert!(mem.write(&mut store, 4 * 65536 - 1, b"ab").is_err());
    assert!(mem.read(&store, usize::MAX, &mut buf).is_err());
}

#[test]
fn guarded_memory_semantics() {
    check_memory_semantics(MemoryStyle::Guarded);
}

#[test]
fn bounds_checked_memory_semantics() {
    check_memory_semantics(MemoryStyle::BoundsChecked);
}

#[test]
fn large_offsets_trap_in_both_modes() {
    for style in [MemoryStyle::Guarded, MemoryStyle::BoundsChecked] {
        let engine = engine(style);
        let module = Module::new(
            &engine,
            r#"(module (memory 1)
               (func (export "far") (param i32) (result i64)
                 (i64.load offset=4294967295 (local.get 0))))"#,
        )
        .unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine)
            .instantiate(&mut store, &module)
            .unwrap();
        let far = instance
            .get_typed_func::<i32, i64>(&mut store, "far")
            .unwrap();
        for index in [0, -1, 65536] {
            let err = far.call(&mut store, index).unwrap_err();
            assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::MemoryOutOfBounds));
        }
    }
}

#[test]
fn store_limits_refuse_growth_and_instantiation() {
    let engine = Engine::default();
    let module = Module::new(&engine, WAT).unwrap();
    let mut store = Store::new(
        &engine,
        StoreLimitsBuilder::new().memory_size(2 * 65536).build(),
    );
    store.limiter(|limits| limits);
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let grow = instance
        .get_typed_func::<i32, i32>(&mut store, "grow")
        .unwrap();
    assert_eq!(
        grow.call(&mut store, 1).unwrap(),
        1,
        "two pages fit the limit"
    );
    assert_eq!(grow.call(&mut store, 1).unwrap(), -1, "a third does not");
    // The limit is per memory: a memory that starts over it cannot be made.
    let err = Memory::new(&mut store, MemoryType::new(3, None)).unwrap_err();
    assert!(err.to_string().contains("limits"), "{err}");
}

#[test]
fn memory_is_shared_by_import_and_export() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, ());
    let memory = Memory::new(&mut store, MemoryType::new(1, Some(2))).unwrap();
    let module = Module::new(
        &engine,
        r#"(module (import "env" "mem" (memory 1))
           (func (export "poke") (i32.store8 (i32.const 7) (i32.const 42))))"#,
    )
    .unwrap();
    let mut linker = Linker::new(&engine);
    linker.define(&store, "env", "mem", memory).unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    instance
        .get_typed_func::<(), ()>(&mut store, "poke")
        .unwrap()
        .call(&mut store, ())
        .unwrap();
    assert_eq!(memory.data(&store)[7], 42);
}
