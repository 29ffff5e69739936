//! Instantiation: memories initialised from the module's copy-on-write image (and
//! the cases that fall back to copying the data segments), and element segments
//! with null items.

use lazuli::{
    Config, Engine, Extern, Func, Global, GlobalType, Instance, Memory, MemoryStyle, Module,
    Mutability, Ref, RefType, Store, Table, TableType, Trap, Val, ValType,
};

/// Two overlapping segments in the first page and one in the second, all
/// constant and in bounds: the module's memory gets an image.
const IMAGED: &str = r#"(module
  (memory (export "mem") 3 8)
  (data (i32.const 8) "lazuli")
  (data (i32.const 10) "ZU")
  (data (i32.const 70000) "second page")
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#;

fn engine(style: MemoryStyle) -> Engine {
    let mut config = Config::new();
    config.memory_style(style);
    Engine::new(&config).unwrap()
}

fn instantiate(store: &mut Store<()>, module: &Module) -> (Instance, Memory) {
    let instance = Instance::new(&mut *store, module, &[]).unwrap();
    let memory = instance.get_memory(&mut *store, "mem").unwrap();
    (instance, memory)
}

/// Whether the page at `address` is mapped from a memory image's memfd, as
/// `/proc/self/maps` shows it.
fn mapped_from_image(address: usize) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines().any(|line| {
        let range = line.split_whitespace().next().unwrap();
        let (start, end) = range.split_once('-').unwrap();
        let start = usize::from_str_radix(start, 16).unwrap();
        let end = usize::from_str_radix(end, 16).unwrap();
        (start..end).contains(&address) && line.contains("lazuli-memory-image")
    })
}

fn load(store: &mut Store<()>, instance: Instance, address: i32) -> i32 {
    let load = instance
        .get_typed_func::<i32, i32>(&mut *store, "load")
        .unwrap();
    load.call(&mut *store, address).unwrap()
}

fn store8(store: &mut Store<()>, instance: Instance, address: i32, value: i32) {
    let st = instance
        .get_typed_func::<(i32, i32), ()>(&mut *store, "store")
        .unwrap();
    st.call(&mut *store, (address, value)).unwrap();
}

#[test]
fn imaged_memory_reads_the_segment_bytes() {
    for style in [MemoryStyle::Guarded, MemoryStyle::BoundsChecked] {
        let engine = engine(style);
        let module = Module::new(&engine, IMAGED).unwrap();
        let mut store = Store::new(&engine, ());
        let (instance, memory) = instantiate(&mut store, &module);
        let data = memory.data(&store);
        assert!(mapped_from_image(data.as_ptr() as usize), "{style:?}");
        assert_eq!(
            &data[8..14],
            b"laZUli",
            "later segments overwrite earlier ones"
        );
        assert_eq!(&data[70000..70011], b"second page");
        assert!(data[..8].iter().all(|b| *b == 0));
        assert!(data[14..70000].iter().all(|b| *b == 0));
        assert!(data[70011..].iter().all(|b| *b == 0));
        assert_eq!(data.len(), 3 * 65536);
        assert_eq!(load(&mut store, instance, 10), i32::from(b'Z'));
        assert_eq!(load(&mut store, instance, 70000), i32::from(b's'));
    }
}

#[test]
fn writes_to_an_imaged_memory_stay_private_to_the_instance() {
    let engine = engine(MemoryStyle::Guarded);
    let module = Module::new(&engine, IMAGED).unwrap();
    let mut first_store = Store::new(&engine, ());
    let (first, first_memory) = instantiate(&mut first_store, &module);
    let (second, second_memory) = instantiate(&mut first_store, &module);
    store8(&mut first_store, first, 8, i32::from(b'X'));
    first_memory.data_mut(&mut first_store)[70000] = b'S';
    assert_eq!(load(&mut first_store, first, 8), i32::from(b'X'));
    assert_eq!(&first_memory.data(&first_store)[70000..70001], b"S");
    assert_eq!(load(&mut first_store, second, 8), i32::from(b'l'));
    assert_eq!(&second_memory.data(&first_store)[70000..70001], b"s");

    let mut other_store = Store::new(&engine, ());
    let (other, _) = instantiate(&mut other_store, &module);
    assert_eq!(load(&mut other_store, other, 8), i32::from(b'l'));
    drop(first_store);
    let mut later_store = Store::new(&engine, ());
    let (later, later_memory) = instantiate(&mut later_store, &module);
    assert_eq!(load(&mut later_store, later, 8), i32::from(b'l'));
    assert_eq!(&later_memory.data(&later_store)[8..14], b"laZUli");
    assert_eq!(
        &later_memory.data(&later_store)[70000..70011],
        b"second page"
    );
}

#[test]
fn an_imaged_memory_grows_with_zero_pages() {
    for style in [MemoryStyle::Guarded, MemoryStyle::BoundsChecked] {
        let engine = engine(style);
        let module = Module::new(&engine, IMAGED).unwrap();
        let mut store = Store::new(&engine, ());
        let (instance, memory) = instantiate(&mut store, &module);
        store8(&mut store, instance, 9, i32::from(b'!'));
        let grow = instance
            .get_typed_func::<i32, i32>(&mut store, "grow")
            .unwrap();
        assert_eq!(grow.call(&mut store, 2).unwrap(), 3, "{style:?}");
        let data = memory.data(&store);
        assert_eq!(data.len(), 5 * 65536);
        assert!(
            data[3 * 65536..].iter().all(|b| *b == 0),
            "new pages are zero"
        );
        assert_eq!(&data[8..14], b"l!ZUli", "growth keeps the written image");
        assert_eq!(&data[70000..70011], b"second page");
        store8(&mut store, instance, 5 * 65536 - 1, 7);
        assert_eq!(load(&mut store, instance, 5 * 65536 - 1), 7);
        assert_eq!(memory.grow(&mut store, 1).unwrap(), 5);
        assert_eq!(load(&mut store, instance, 5 * 65536), 0);
    }
}

/// A module that puts its `load` function at index 0 of the imported table
/// before its data segments are applied, so that what they left in its memory can
/// be read after its instantiation traps.
fn trapping_module(engine: &Engine, rest: &str) -> Module {
    let wat = format!(
        r#"(module
          (import "host" "table" (table 2 funcref))
          (memory 1)
          (elem (i32.const 0) $load)
          (func $load (param i32) (result i32) (i32.load8_u (local.get 0)))
          {rest})"#
    );
    Module::new(engine, wat).unwrap()
}

/// Instantiates `module` with `table`, expecting `trap`, then calls the function
/// the module left at index 0 of the table on `address`.
fn load_after_trap(
    store: &mut Store<()>,
    module: &Module,
    table: Table,
    trap: Trap,
    address: i32,
) -> i32 {
    let err = Instance::new(&mut *store, module, &[Extern::Table(table)]).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&trap), "{err}");
    let Some(Ref::Func(Some(load))) = table.get(&mut *store, 0) else {
        panic!("the element segment before the trap is applied");
    };
    let mut result = [Val::I32(0)];
    load.call(&mut *store, &[Val::I32(address)], &mut result)
        .unwrap();
    result[0].i32().unwrap()
}

fn host_table(store: &mut Store<()>) -> Table {
    let ty = TableType::new(RefType::FUNCREF, 2, None);
    Table::new(&mut *store, ty, Ref::Func(None)).unwrap()
}

#[test]
fn an_out_of_bounds_data_segment_traps_with_the_earlier_ones_applied() {
    let engine = engine(MemoryStyle::Guarded);
    let module = trapping_module(
        &engine,
        r#"(data (i32.const 0) "a") (data (i32.const 65536) "b") (data (i32.const 1) "c")"#,
    );
    let mut store = Store::new(&engine, ());
    let table = host_table(&mut store);
    let trap = Trap::MemoryOutOfBounds;
    assert_eq!(load_after_trap(&mut store, &module, table, trap, 0), 97);
    assert_eq!(
        load_after_trap(&mut store, &module, table, trap, 1),
        0,
        "segments after the trapping one are not applied"
    );
}

#[test]
fn a_trapping_element_segment_leaves_an_imageable_memory_zero() {
    // The data segment could be imaged, but segments are applied in order:
    // elements first, so after this trap no data segment has been applied.
    let engine = engine(MemoryStyle::Guarded);
    let module = trapping_module(
        &engine,
        r#"(elem (i32.const 2) $load) (data (i32.const 0) "a")"#,
    );
    let mut store = Store::new(&engine, ());
    let table = host_table(&mut store);
    let trap = Trap::TableOutOfBounds;
    assert_eq!(load_after_trap(&mut store, &module, table, trap, 0), 0);
}

#[test]
fn a_data_segment_at_an_imported_global_offset_is_copied() {
    let engine = engine(MemoryStyle::Guarded);
    let module = Module::new(
        &engine,
        r#"(module
          (import "host" "offset" (global i32))
          (memory (export "mem") 1)
          (data (i32.const 0) "first")
          (data (global.get 0) "moved"))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    for offset in [100, 2] {
        let ty = GlobalType::new(ValType::I32, Mutability::Const);
        let global = Global::new(&mut store, ty, Val::I32(offset)).unwrap();
        let instance = Instance::new(&mut store, &module, &[Extern::Global(global)]).unwrap();
        let memory = instance.get_memory(&mut store, "mem").unwrap();
        let data = memory.data(&store);
        assert!(!mapped_from_image(data.as_ptr() as usize));
        let at = offset as usize;
        assert_eq!(&data[at..at + 5], b"moved");
        assert_eq!(&data[..2], b"fi", "the earlier segment is applied first");
    }
}

#[test]
fn a_data_segment_into_an_imported_memory_is_copied() {
    let engine = engine(MemoryStyle::Guarded);
    let module = Module::new(
        &engine,
        r#"(module (import "host" "mem" (memory 1)) (data (i32.const 4) "imported"))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let memory = Memory::new(&mut store, lazuli::MemoryType::new(1, None)).unwrap();
    memory.data_mut(&mut store)[0] = 1;
    Instance::new(&mut store, &module, &[Extern::Memory(memory)]).unwrap();
    let data = memory.data(&store);
    assert!(!mapped_from_image(data.as_ptr() as usize));
    assert_eq!(data[0], 1, "bytes outside the segment are kept");
    assert_eq!(&data[4..12], b"imported");
}

/// The function a table element refers to, called: each test function returns
/// a different number.
fn call_element(store: &mut Store<()>, table: Table, index: u64) -> Option<i32> {
    let Some(Ref::Func(func)) = table.get(&mut *store, index) else {
        panic!("element {index} is in bounds");
    };
    let mut result = [Val::I32(0)];
    func?.call(&mut *store, &[], &mut result).unwrap();
    Some(result[0].i32().unwrap())
}

#[test]
fn null_items_overwrite_the_entries_of_an_imported_table() {
    let engine = engine(MemoryStyle::Guarded);
    let mut store = Store::new(&engine, ());
    let host = Func::wrap(&mut store, || 7i32);
    let ty = TableType::new(RefType::FUNCREF, 4, None);
    let table = Table::new(&mut store, ty, Ref::Func(Some(host))).unwrap();
    let module = Module::new(
        &engine,
        r#"(module
          (import "host" "table" (table 4 funcref))
          (func $f (result i32) (i32.const 1))
          (elem (i32.const 0) funcref (ref.null func) (ref.func $f) (ref.null func)))"#,
    )
    .unwrap();
    Instance::new(&mut store, &module, &[Extern::Table(table)]).unwrap();
    assert_eq!(call_element(&mut store, table, 0), None);
    assert_eq!(call_element(&mut store, table, 1), Some(1));
    assert_eq!(call_element(&mut store, table, 2), None);
    assert_eq!(
        call_element(&mut store, table, 3),
        Some(7),
        "past the segment"
    );
}

#[test]
fn null_items_overwrite_what_an_earlier_segment_wrote_into_a_defined_table() {
    let engine = engine(MemoryStyle::Guarded);
    let module = Module::new(
        &engine,
        r#"(module
          (table (export "table") 4 funcref)
          (func $f (result i32) (i32.const 1))
          (func $g (result i32) (i32.const 2))
          (elem (i32.const 0) $f $f $f)
          (elem (i32.const 1) funcref (ref.null func) (ref.func $g) (ref.null func)))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let table = instance.get_table(&mut store, "table").unwrap();
    let elements: Vec<_> = (0..4).map(|i| call_element(&mut store, table, i)).collect();
    assert_eq!(elements, [Some(1), None, Some(2), None]);
}

#[test]
fn passive_segments_with_null_items_initialise_tables() {
    let engine = engine(MemoryStyle::Guarded);
    let module = Module::new(
        &engine,
        r#"(module
          (import "host" "ref" (global $host funcref))
          (table (export "table") 5 funcref)
          (func $f (result i32) (i32.const 1))
          (func $g (result i32) (i32.const 2))
          (elem $passive funcref (ref.null func) (ref.func $f) (ref.null func) (global.get $host))
          (elem (i32.const 0) $g $g $g $g $g)
          (func (export "init") (param i32 i32 i32)
            (table.init $passive (local.get 0) (local.get 1) (local.get 2))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let host = Func::wrap(&mut store, || 7i32);
    let ty = GlobalType::new(ValType::FUNCREF, Mutability::Const);
    let global = Global::new(&mut store, ty, Val::FuncRef(Some(host))).unwrap();
    let instance = Instance::new(&mut store, &module, &[Extern::Global(global)]).unwrap();
    let table = instance.get_table(&mut store, "table").unwrap();
    let init = instance
        .get_typed_func::<(i32, i32, i32), ()>(&mut store, "init")
        .unwrap();
    init.call(&mut store, (1, 0, 4)).unwrap();
    let elements: Vec<_> = (0..5).map(|i| call_element(&mut store, table, i)).collect();
    assert_eq!(elements, [Some(2), None, Some(1), None, Some(7)]);
    init.call(&mut store, (0, 2, 1)).unwrap();
    assert_eq!(call_element(&mut store, table, 0), None);
    let err = init.call(&mut store, (0, 3, 2)).unwrap_err();
    assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::TableOutOfBounds));
}

/// The process's virtual size, in KiB, from `/proc/self/status`.
fn vm_size_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Issue 11's budget: 10,000 live instances with a one-page (imaged) memory each
/// fit in a default Linux process: each guarded memory reserves 8 GiB + 64 KiB of
/// address space (about 78 TiB for all of them, of x86-64's 128 TiB) and takes
/// three mappings (image, the rest of the page, the reservation), well under the
/// default `vm.max_map_count` of 65,530. Run with `--nocapture` to see VmSize.
#[test]
fn ten_thousand_instances_with_one_page_memories_live_at_once() {
    const INSTANCES: usize = 10_000;
    let engine = engine(MemoryStyle::Guarded);
    let module = Module::new(
        &engine,
        r#"(module (memory (export "mem") 1) (data (i32.const 0) "x"))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let before = vm_size_kib();
    let start = std::time::Instant::now();
    let memories: Vec<Memory> = (0..INSTANCES)
        .map(|_| instantiate(&mut store, &module).1)
        .collect();
    let elapsed = start.elapsed();
    for (i, memory) in memories.iter().enumerate() {
        memory.data_mut(&mut store)[1..5].copy_from_slice(&(i as u32).to_le_bytes());
    }
    for (i, memory) in memories.iter().enumerate() {
        let data = memory.data(&store);
        assert_eq!(data[0], b'x');
        assert_eq!(data[1..5], (i as u32).to_le_bytes());
    }
    let after = vm_size_kib();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    eprintln!(
        "{INSTANCES} instances in {elapsed:?}: VmSize {before} kB before, {after} kB after \
         ({:.1} TiB), {} mappings",
        after as f64 / (1u64 << 30) as f64,
        maps.lines().count()
    );
    let reserved_kib = INSTANCES as u64 * (8 << 20);
    assert!(
        after >= before + reserved_kib - (64 << 20),
        "every memory is reserved"
    );
}
