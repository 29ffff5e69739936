//! `InstanceAllocationStrategy::Pooling`: memories reuse the reservations of
//! dropped ones, reset to the module's initial contents, within the pool's limits.

use lazuli::{
    Config, Engine, Instance, InstanceAllocationStrategy, Memory, MemoryStyle, Module,
    PoolingAllocationConfig, Store, Trap,
};

const WAT: &str = r#"(module
  (memory (export "mem") 2)
  (data (i32.const 8) "pooled")
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#;

fn engine(style: MemoryStyle, total_memories: u32, max_memory_pages: usize) -> Engine {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_memories(total_memories)
        .max_memory_size(max_memory_pages * 65536);
    let mut config = Config::new();
    config
        .memory_style(style)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).unwrap()
}

fn instantiate(store: &mut Store<()>, module: &Module) -> anyhow::Result<(Instance, Memory)> {
    let instance = Instance::new(&mut *store, module, &[])?;
    let memory = instance.get_memory(&mut *store, "mem").unwrap();
    Ok((instance, memory))
}

fn call(store: &mut Store<()>, instance: Instance, name: &str, arg: i32) -> Result<i32, Trap> {
    let func = instance
        .get_typed_func::<i32, i32>(&mut *store, name)
        .unwrap();
    func.call(&mut *store, arg)
        .map_err(|e| *e.downcast_ref::<Trap>().unwrap())
}

#[test]
fn a_pooled_memory_reuses_a_dropped_reservation_reset_to_the_initial_contents() {
    for style in [MemoryStyle::Guarded, MemoryStyle::BoundsChecked] {
        let engine = engine(style, 1, 4);
        let module = Module::new(&engine, WAT).unwrap();
        let mut store = Store::new(&engine, ());
        let (instance, memory) = instantiate(&mut store, &module).unwrap();
        let base = memory.data(&store).as_ptr() as usize;
        memory.data_mut(&mut store)[8..14].copy_from_slice(b"dirty!");
        memory.data_mut(&mut store)[100_000] = 1;
        assert_eq!(call(&mut store, instance, "grow", 2), Ok(2), "{style:?}");
        memory.data_mut(&mut store)[3 * 65536] = 1;
        drop(store);

        let mut store = Store::new(&engine, ());
        let (instance, memory) = instantiate(&mut store, &module).unwrap();
        let data = memory.data(&store);
        assert_eq!(data.as_ptr() as usize, base, "the reservation is reused");
        assert_eq!(data.len(), 2 * 65536, "the size is the minimum again");
        assert_eq!(&data[8..14], b"pooled", "the image is mapped again");
        assert!(data[..8].iter().chain(&data[14..]).all(|b| *b == 0));
        assert_eq!(call(&mut store, instance, "load", 100_000), Ok(0));
        assert_eq!(
            call(&mut store, instance, "load", 2 * 65536),
            Err(Trap::MemoryOutOfBounds),
            "the pages grown before are inaccessible again"
        );
        assert_eq!(call(&mut store, instance, "grow", 2), Ok(2));
        assert_eq!(call(&mut store, instance, "load", 3 * 65536), Ok(0));
    }
}

#[test]
fn instantiation_fails_while_every_pooled_memory_is_live() {
    let engine = engine(MemoryStyle::Guarded, 2, 4);
    let module = Module::new(&engine, WAT).unwrap();
    let mut first = Store::new(&engine, ());
    let mut second = Store::new(&engine, ());
    instantiate(&mut first, &module).unwrap();
    instantiate(&mut second, &module).unwrap();
    let err = instantiate(&mut second, &module).unwrap_err();
    assert!(err.to_string().contains("pool"), "{err}");
    drop(first);
    let (instance, _) = instantiate(&mut second, &module).unwrap();
    assert_eq!(call(&mut second, instance, "load", 8), Ok(i32::from(b'p')));
}

#[test]
fn a_pooled_memory_is_limited_to_the_pools_maximum_pages() {
    let engine = engine(MemoryStyle::BoundsChecked, 4, 3);
    let module = Module::new(&engine, WAT).unwrap();
    let mut store = Store::new(&engine, ());
    let (instance, memory) = instantiate(&mut store, &module).unwrap();
    assert_eq!(call(&mut store, instance, "grow", 2), Ok(-1));
    assert_eq!(call(&mut store, instance, "grow", 1), Ok(2));
    assert_eq!(call(&mut store, instance, "grow", 1), Ok(-1));
    assert!(memory.grow(&mut store, 1).is_err());
    let large = Module::new(&engine, "(module (memory 4))").unwrap();
    let err = Instance::new(&mut store, &large, &[]).unwrap_err();
    assert!(err.to_string().contains("4 pages"), "{err}");
}

#[test]
fn host_memories_are_not_pooled() {
    let engine = engine(MemoryStyle::Guarded, 1, 4);
    let module = Module::new(&engine, WAT).unwrap();
    let mut store = Store::new(&engine, ());
    let ty = lazuli::MemoryType::new(8, None);
    let host = Memory::new(&mut store, ty).unwrap();
    assert_eq!(host.size(&store), 8, "past the pool's maximum pages");
    instantiate(&mut store, &module).unwrap();
}
