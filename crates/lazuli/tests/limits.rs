//! Resource limiters: what they are asked, when, and that they may keep state.

use lazuli::{
    Caller, Engine, Extern, Linker, Memory, MemoryType, Module, Ref, RefType, ResourceLimiter,
    Store, StoreLimitsBuilder, Table, TableType,
};

/// Records every question and grants memory up to `budget` bytes in all.
#[derive(Default)]
struct Recorder {
    budget: usize,
    granted: usize,
    memory_asks: Vec<(usize, usize)>,
    table_asks: Vec<(usize, usize)>,
}

impl ResourceLimiter for Recorder {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> lazuli::Result<bool> {
        self.memory_asks.push((current, desired));
        let granted = self.granted + (desired - current);
        if granted > self.budget {
            return Ok(false);
        }
        self.granted = granted;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> lazuli::Result<bool> {
        self.table_asks.push((current, desired));
        Ok(true)
    }
}

const PAGE: usize = 65536;

const GROWER: &str = r#"(module
  (memory (export "mem") 1 3)
  (table (export "tab") 1 2 funcref)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "grow_table") (param i32) (result i32)
    (table.grow (ref.null func) (local.get 0))))"#;

fn recorder_store(engine: &Engine, budget: usize) -> Store<Recorder> {
    let mut store = Store::new(
        engine,
        Recorder {
            budget,
            ..Recorder::default()
        },
    );
    store.limiter(|r| r);
    store
}

#[test]
fn limiter_is_not_asked_for_growth_past_the_declared_maximum() {
    let engine = Engine::default();
    let module = Module::new(&engine, GROWER).unwrap();
    let mut store = recorder_store(&engine, usize::MAX);
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    assert_eq!(store.data().memory_asks, [(0, PAGE)]);
    assert_eq!(store.data().table_asks, [(0, 1)]);
    let grow = instance
        .get_typed_func::<i32, i32>(&mut store, "grow")
        .unwrap();
    let grow_table = instance
        .get_typed_func::<i32, i32>(&mut store, "grow_table")
        .unwrap();
    // Past the maximum, from Wasm and from the host: refused without asking.
    assert_eq!(grow.call(&mut store, 3).unwrap(), -1);
    assert_eq!(grow.call(&mut store, 70000).unwrap(), -1);
    let mem = instance.get_memory(&mut store, "mem").unwrap();
    assert!(mem.grow(&mut store, 3).is_err());
    assert_eq!(grow_table.call(&mut store, 2).unwrap(), -1);
    let tab = instance.get_table(&mut store, "tab").unwrap();
    assert!(tab.grow(&mut store, 2, Ref::Func(None)).is_err());
    assert_eq!(store.data().memory_asks, [(0, PAGE)]);
    assert_eq!(store.data().table_asks, [(0, 1)]);
    assert_eq!(
        store.data().granted,
        PAGE,
        "nothing counted for failed growths"
    );
    // Within the maximum: asked once each, and counted.
    assert_eq!(grow.call(&mut store, 2).unwrap(), 1);
    assert_eq!(grow_table.call(&mut store, 1).unwrap(), 1);
    assert_eq!(store.data().memory_asks, [(0, PAGE), (PAGE, 3 * PAGE)]);
    assert_eq!(store.data().table_asks, [(0, 1), (1, 2)]);
    assert_eq!(store.data().granted, 3 * PAGE);
    // Host-created objects whose type is impossible are refused before asking.
    assert!(Memory::new(&mut store, MemoryType::new(70000, None)).is_err());
    let ty = TableType::new(RefType::FUNCREF, 3, Some(2));
    assert!(Table::new(&mut store, ty, Ref::Func(None)).is_err());
    assert_eq!(store.data().memory_asks.len(), 2);
    assert_eq!(store.data().table_asks.len(), 2);
}

#[test]
fn limiter_state_changes_during_growth_from_wasm_are_kept() {
    let engine = Engine::default();
    let module = Module::new(&engine, GROWER).unwrap();
    // A budget of two pages in all: the instance's first page and one more.
    let mut store = recorder_store(&engine, 2 * PAGE);
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let grow = instance
        .get_typed_func::<i32, i32>(&mut store, "grow")
        .unwrap();
    assert_eq!(grow.call(&mut store, 1).unwrap(), 1);
    assert_eq!(grow.call(&mut store, 1).unwrap(), -1, "over the budget");
    assert_eq!(store.data().granted, 2 * PAGE);
    assert_eq!(store.data().memory_asks.len(), 3);
    store.data_mut().budget = 3 * PAGE;
    assert_eq!(grow.call(&mut store, 1).unwrap(), 2);
    assert_eq!(store.data().granted, 3 * PAGE);
}

#[test]
fn limiter_is_asked_through_nested_entries_into_wasm() {
    let engine = Engine::default();
    let grower = Module::new(&engine, GROWER).unwrap();
    let outer = Module::new(
        &engine,
        r#"(module
          (import "host" "grow_inner" (func $grow_inner (result i32)))
          (memory 1)
          (func (export "run") (result i32 i32 i32)
            (memory.grow (i32.const 1))
            (call $grow_inner)
            (memory.grow (i32.const 1))))"#,
    )
    .unwrap();
    let mut store = recorder_store(&engine, usize::MAX);
    let inner = Linker::new(&engine)
        .instantiate(&mut store, &grower)
        .unwrap();
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap(
            "host",
            "grow_inner",
            move |mut caller: Caller<'_, Recorder>| -> lazuli::Result<i32> {
                let asked = caller.data().memory_asks.len();
                let grow = inner.get_typed_func::<i32, i32>(&mut caller, "grow")?;
                let old = grow.call(&mut caller, 2)?;
                assert_eq!(caller.data().memory_asks.len(), asked + 1);
                Ok(old)
            },
        )
        .unwrap();
    let instance = linker.instantiate(&mut store, &outer).unwrap();
    let run = instance
        .get_typed_func::<(), (i32, i32, i32)>(&mut store, "run")
        .unwrap();
    assert_eq!(run.call(&mut store, ()).unwrap(), (1, 1, 2));
    let asks = &store.data().memory_asks;
    // Instantiations (grower, outer), then outer, inner, outer again.
    assert_eq!(
        asks[..],
        [
            (0, PAGE),
            (0, PAGE),
            (PAGE, 2 * PAGE),
            (PAGE, 3 * PAGE),
            (2 * PAGE, 3 * PAGE)
        ]
    );
    assert!(matches!(
        inner.get_export(&mut store, "mem"),
        Some(Extern::Memory(m)) if m.size(&store) == 3
    ));
}

#[test]
fn store_limits_cap_each_memory_not_their_sum() {
    let engine = Engine::default();
    let module = Module::new(&engine, GROWER).unwrap();
    let mut store = Store::new(
        &engine,
        StoreLimitsBuilder::new().memory_size(2 * PAGE).build(),
    );
    store.limiter(|limits| limits);
    let linker = Linker::new(&engine);
    let first = linker.instantiate(&mut store, &module).unwrap();
    let grow = first
        .get_typed_func::<i32, i32>(&mut store, "grow")
        .unwrap();
    assert_eq!(grow.call(&mut store, 1).unwrap(), 1, "two pages fit");
    assert_eq!(grow.call(&mut store, 1).unwrap(), -1, "a third does not");
    // Other memories have the same allowance of their own.
    let second = linker.instantiate(&mut store, &module).unwrap();
    let grow = second
        .get_typed_func::<i32, i32>(&mut store, "grow")
        .unwrap();
    assert_eq!(grow.call(&mut store, 1).unwrap(), 1);
    assert!(Memory::new(&mut store, MemoryType::new(2, None)).is_ok());
    let err = Memory::new(&mut store, MemoryType::new(3, None)).unwrap_err();
    assert!(err.to_string().contains("limits"), "{err}");
}

/// Refuses everything.
struct Miser;

impl ResourceLimiter for Miser {
    fn memory_growing(&mut self, _: usize, _: usize, _: Option<usize>) -> lazuli::Result<bool> {
        Ok(false)
    }
}

#[test]
fn growing_memory_by_zero_pages_succeeds_without_asking() {
    let engine = Engine::default();
    let module = Module::new(&engine, GROWER).unwrap();
    let mut store = recorder_store(&engine, PAGE);
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let grow = instance
        .get_typed_func::<i32, i32>(&mut store, "grow")
        .unwrap();
    assert_eq!(grow.call(&mut store, 0).unwrap(), 1);
    let mem = instance.get_memory(&mut store, "mem").unwrap();
    assert_eq!(mem.grow(&mut store, 0).unwrap(), 1);
    assert_eq!(store.data().memory_asks, [(0, PAGE)]);
    // Even a limiter that refuses every growth lets a memory grow by nothing.
    let mut store = Store::new(&engine, Miser);
    let memory = Memory::new(&mut store, MemoryType::new(0, None)).unwrap();
    store.limiter(|m| m);
    assert_eq!(memory.grow(&mut store, 0).unwrap(), 0);
    assert!(memory.grow(&mut store, 1).is_err());
}
