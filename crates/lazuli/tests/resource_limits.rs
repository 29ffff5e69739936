//! The Wasmtime shape of resource limits: `ResourceLimiter` hooks returning
//! `Result`, the grow-failed hooks, count limits enforced at instantiation, and
//! `StoreLimitsBuilder`.

use lazuli::{
    Engine, Linker, Memory, MemoryType, Module, Ref, RefType, ResourceLimiter, Store, StoreLimits,
    StoreLimitsBuilder, Table, TableType,
};

const PAGE: usize = 65536;

const GROWER: &str = r#"(module
  (memory (export "mem") 1 3)
  (table (export "tab") 1 4 funcref)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "grow_table") (param i32) (result i32)
    (table.grow (ref.null func) (local.get 0))))"#;

/// Fails every growth past the first page or element with an error, and
/// records what it is told of failed growths.
#[derive(Default)]
struct Strict {
    memory_failures: Vec<String>,
    table_failures: Vec<String>,
    fail_on_failure: bool,
}

impl ResourceLimiter for Strict {
    fn memory_growing(
        &mut self,
        _: usize,
        desired: usize,
        _: Option<usize>,
    ) -> lazuli::Result<bool> {
        if desired > 2 * PAGE {
            return Err(lazuli::Error::msg("memory budget exceeded"));
        }
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: lazuli::Error) -> lazuli::Result<()> {
        self.memory_failures.push(error.to_string());
        if self.fail_on_failure {
            return Err(error.context("strict about failures"));
        }
        Ok(())
    }

    fn table_growing(
        &mut self,
        _: usize,
        desired: usize,
        _: Option<usize>,
    ) -> lazuli::Result<bool> {
        if desired > 2 {
            return Err(lazuli::Error::msg("table budget exceeded"));
        }
        Ok(true)
    }

    fn table_grow_failed(&mut self, error: lazuli::Error) -> lazuli::Result<()> {
        self.table_failures.push(error.to_string());
        if self.fail_on_failure {
            return Err(error.context("strict about failures"));
        }
        Ok(())
    }
}

fn grower(engine: &Engine, limiter: Strict) -> (Store<Strict>, lazuli::Instance) {
    let module = Module::new(engine, GROWER).unwrap();
    let mut store = Store::new(engine, limiter);
    store.limiter(|s| s);
    let instance = Linker::new(engine)
        .instantiate(&mut store, &module)
        .unwrap();
    (store, instance)
}

fn call(
    store: &mut Store<Strict>,
    instance: lazuli::Instance,
    name: &str,
    n: i32,
) -> lazuli::Result<i32> {
    let f = instance.get_typed_func::<i32, i32>(&mut *store, name)?;
    f.call(&mut *store, n)
}

#[test]
fn limiter_error_makes_memory_grow_trap_with_that_error() {
    let engine = Engine::default();
    let (mut store, instance) = grower(&engine, Strict::default());
    assert_eq!(call(&mut store, instance, "grow", 1).unwrap(), 1);
    let err = call(&mut store, instance, "grow", 1).unwrap_err();
    assert_eq!(err.root_cause().to_string(), "memory budget exceeded");
    // The memory did not grow, and later calls still work.
    let mem = instance.get_memory(&mut store, "mem").unwrap();
    assert_eq!(mem.size(&store), 2);
    assert_eq!(call(&mut store, instance, "grow", 0).unwrap(), 2);
    // From the host, the growth fails with the same error.
    let err = mem.grow(&mut store, 1).unwrap_err();
    assert_eq!(err.to_string(), "memory budget exceeded");
}

#[test]
fn limiter_error_makes_table_grow_trap_with_that_error() {
    let engine = Engine::default();
    let (mut store, instance) = grower(&engine, Strict::default());
    assert_eq!(call(&mut store, instance, "grow_table", 1).unwrap(), 1);
    let err = call(&mut store, instance, "grow_table", 1).unwrap_err();
    assert_eq!(err.root_cause().to_string(), "table budget exceeded");
    let tab = instance.get_table(&mut store, "tab").unwrap();
    assert_eq!(tab.size(&store), 2);
    let err = tab.grow(&mut store, 1, Ref::Func(None)).unwrap_err();
    assert_eq!(err.to_string(), "table budget exceeded");
}

#[test]
fn limiter_error_fails_instantiation_and_host_creation_with_that_error() {
    let engine = Engine::default();
    let big = Module::new(&engine, "(module (memory 3))").unwrap();
    let mut store = Store::new(&engine, Strict::default());
    store.limiter(|s| s);
    let err = Linker::new(&engine)
        .instantiate(&mut store, &big)
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "memory budget exceeded");
    let err = Memory::new(&mut store, MemoryType::new(3, None)).unwrap_err();
    assert_eq!(err.to_string(), "memory budget exceeded");
    let ty = TableType::new(RefType::FUNCREF, 3, None);
    let err = Table::new(&mut store, ty, Ref::Func(None)).unwrap_err();
    assert_eq!(err.to_string(), "table budget exceeded");
}

#[test]
fn grow_failed_hooks_hear_of_growth_past_the_maximum() {
    let engine = Engine::default();
    let (mut store, instance) = grower(&engine, Strict::default());
    assert_eq!(call(&mut store, instance, "grow", 5).unwrap(), -1);
    assert_eq!(call(&mut store, instance, "grow_table", 9).unwrap(), -1);
    let failures = (&store.data().memory_failures, &store.data().table_failures);
    assert_eq!((failures.0.len(), failures.1.len()), (1, 1), "{failures:?}");
    // A growth the limiter refuses by error is not also reported as failed.
    call(&mut store, instance, "grow", 2).unwrap_err();
    assert_eq!(store.data().memory_failures.len(), 1);
}

#[test]
fn grow_failed_hook_returning_an_error_makes_the_growth_trap() {
    let engine = Engine::default();
    let strict = Strict {
        fail_on_failure: true,
        ..Strict::default()
    };
    let (mut store, instance) = grower(&engine, strict);
    for (name, delta) in [("grow", 5), ("grow_table", 9)] {
        let err = call(&mut store, instance, name, delta).unwrap_err();
        assert!(
            format!("{err:#}").contains("strict about failures"),
            "{err:#}"
        );
    }
}

fn limited_store(engine: &Engine, limits: StoreLimits) -> Store<StoreLimits> {
    let mut store = Store::new(engine, limits);
    store.limiter(|l| l);
    store
}

#[test]
fn instance_count_limit_fails_the_instantiation_past_it() {
    let engine = Engine::default();
    let module = Module::new(&engine, "(module)").unwrap();
    let mut store = limited_store(&engine, StoreLimitsBuilder::new().instances(2).build());
    let linker = Linker::new(&engine);
    linker.instantiate(&mut store, &module).unwrap();
    linker.instantiate(&mut store, &module).unwrap();
    let err = linker.instantiate(&mut store, &module).err().unwrap();
    assert!(err.to_string().contains("instance count too high"), "{err}");
}

#[test]
fn memory_and_table_count_limits_count_defined_ones_only() {
    let engine = Engine::default();
    let definer = Module::new(
        &engine,
        r#"(module (memory (export "m") 1) (table (export "t") 1 funcref))"#,
    )
    .unwrap();
    let importer = Module::new(
        &engine,
        r#"(module (import "d" "m" (memory 1)) (import "d" "t" (table 1 funcref)))"#,
    )
    .unwrap();
    let limits = StoreLimitsBuilder::new().memories(1).tables(1).build();
    let mut store = limited_store(&engine, limits);
    let mut linker = Linker::new(&engine);
    let defined = linker.instantiate(&mut store, &definer).unwrap();
    linker.instance(&mut store, "d", defined).unwrap();
    linker.instantiate(&mut store, &importer).unwrap();
    let err = linker.instantiate(&mut store, &definer).err().unwrap();
    assert!(err.to_string().contains("memory count too high"), "{err}");
    let table_only = Module::new(&engine, "(module (table 1 funcref))").unwrap();
    let err = linker.instantiate(&mut store, &table_only).err().unwrap();
    assert!(err.to_string().contains("table count too high"), "{err}");
}

#[test]
fn count_limits_default_to_wasmtimes() {
    let limits = StoreLimits::default();
    assert_eq!(limits.instances(), lazuli::DEFAULT_INSTANCE_LIMIT);
    assert_eq!(limits.tables(), lazuli::DEFAULT_TABLE_LIMIT);
    assert_eq!(limits.memories(), lazuli::DEFAULT_MEMORY_LIMIT);
    assert_eq!(lazuli::DEFAULT_INSTANCE_LIMIT, 10_000);
}

#[test]
fn store_limits_refuse_growth_past_their_sizes() {
    let engine = Engine::default();
    let module = Module::new(&engine, GROWER).unwrap();
    let limits = StoreLimitsBuilder::new()
        .memory_size(2 * PAGE)
        .table_elements(2)
        .build();
    let mut store = limited_store(&engine, limits);
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let grow = instance
        .get_typed_func::<i32, i32>(&mut store, "grow")
        .unwrap();
    let grow_table = instance
        .get_typed_func::<i32, i32>(&mut store, "grow_table")
        .unwrap();
    assert_eq!(grow.call(&mut store, 1).unwrap(), 1);
    assert_eq!(grow.call(&mut store, 1).unwrap(), -1);
    assert_eq!(grow_table.call(&mut store, 1).unwrap(), 1);
    assert_eq!(grow_table.call(&mut store, 1).unwrap(), -1);
}

#[test]
fn trap_on_grow_failure_turns_refusals_and_failures_into_traps() {
    let engine = Engine::default();
    let module = Module::new(&engine, GROWER).unwrap();
    let limits = StoreLimitsBuilder::new()
        .memory_size(2 * PAGE)
        .table_elements(2)
        .trap_on_grow_failure(true)
        .build();
    let mut store = limited_store(&engine, limits);
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let grow = instance
        .get_typed_func::<i32, i32>(&mut store, "grow")
        .unwrap();
    let grow_table = instance
        .get_typed_func::<i32, i32>(&mut store, "grow_table")
        .unwrap();
    assert_eq!(grow.call(&mut store, 1).unwrap(), 1);
    let err = grow.call(&mut store, 1).unwrap_err();
    assert!(format!("{err:#}").contains("forcing a trap"), "{err:#}");
    let err = grow_table.call(&mut store, 5).unwrap_err();
    assert!(
        format!("{err:#}").contains("forcing a growth failure"),
        "{err:#}"
    );
    // Growing by nothing never fails.
    assert_eq!(grow.call(&mut store, 0).unwrap(), 2);
}
