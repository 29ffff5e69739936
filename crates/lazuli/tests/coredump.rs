//! `Config::coredump_on_trap`: the `WasmCoreDump` a trap's error carries, what it
//! lists, and its serialization, read back with wasmparser as a debugger would.

use lazuli::{
    Caller, Compilation, Config, Engine, Func, Global, GlobalType, Instance, Linker, Memory,
    MemoryType, Module, Mutability, Store, Trap, Val, ValType, WasmCoreDump, bail,
};

/// Wasmtime's `examples/coredump.rs` module: `run` calls `$a`, which stores 42
/// at 0x1234 and calls `$b`, which sets the global to 36 and calls `$c`, which
/// traps.
const TRAPPER: &str = r#"(module $trapper
  (memory 10)
  (global $g (mut i32) (i32.const 0))
  (func $run (export "run") call $a)
  (func $a
    i32.const 0x1234
    i64.const 42
    i64.store
    call $b)
  (func $b
    i32.const 36
    global.set $g
    call $c)
  (func $c unreachable))"#;

fn engine(compilation: Compilation, coredump: bool) -> Engine {
    let mut config = Config::new();
    config.compilation(compilation).coredump_on_trap(coredump);
    Engine::new(&config).unwrap()
}

/// The error of calling `run` of `TRAPPER`, with the store it ran in.
fn trap(engine: &Engine) -> (Store<()>, lazuli::Error) {
    let module = Module::new(engine, TRAPPER).unwrap();
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let run = instance.get_func(&mut store, "run").unwrap();
    let err = run.call(&mut store, &[], &mut []).unwrap_err();
    (store, err)
}

fn frame_names(dump: &WasmCoreDump) -> Vec<&str> {
    let names = dump.frames().iter().map(|f| f.func_name().unwrap_or("?"));
    names.collect()
}

#[test]
fn no_dump_is_attached_by_default() {
    let (_store, err) = trap(&Engine::default());
    assert!(err.is::<Trap>());
    assert!(err.downcast_ref::<WasmCoreDump>().is_none());
    let (_store, err) = trap(&engine(Compilation::Lazy, false));
    assert!(err.downcast_ref::<WasmCoreDump>().is_none());
}

#[test]
fn the_dump_lists_the_frames_in_order_the_memory_and_the_globals() {
    for compilation in [Compilation::Lazy, Compilation::Eager] {
        let (mut store, err) = trap(&engine(compilation, true));
        assert_eq!(
            err.downcast_ref::<Trap>(),
            Some(&Trap::UnreachableCodeReached)
        );
        let dump = err
            .downcast_ref::<WasmCoreDump>()
            .expect("a dump is attached");
        assert_eq!(frame_names(dump), ["c", "b", "a", "run"]);
        let indices: Vec<u32> = dump.frames().iter().map(|f| f.func_index()).collect();
        assert_eq!(indices, [3, 2, 1, 0]);
        assert!(dump.frames().iter().all(|f| f.func_offset().unwrap() > 0));
        assert_eq!(dump.modules().len(), 1);
        assert_eq!(dump.modules()[0].name(), Some("trapper"));
        assert_eq!(dump.instances().len(), 1);
        // What Wasmtime's example prints: the first non-zero byte and the global.
        assert_eq!(dump.memories().len(), 1);
        let data = dump.memories()[0].data(&store);
        let first = data.iter().position(|&b| b != 0);
        assert_eq!(first.map(|at| (at, data[at])), Some((0x1234, 42)));
        assert_eq!(dump.globals().len(), 1);
        assert_eq!(dump.globals()[0].get(&mut store), Val::I32(36));
    }
}

/// What a core dump says, read with wasmparser.
#[derive(Debug, Default)]
struct Parsed {
    /// The custom sections' names, in order.
    customs: Vec<String>,
    program: String,
    modules: Vec<String>,
    /// (module, memories, globals) of each instance.
    instances: Vec<(u32, Vec<u32>, Vec<u32>)>,
    /// (instance, function, code offset) of each frame.
    frames: Vec<(u32, u32, u32)>,
    /// The minimum size of each memory, in pages.
    memory_pages: Vec<u64>,
    /// (memory, offset, bytes) of each data segment.
    segments: Vec<(u32, i32, Vec<u8>)>,
    /// (mutable, value) of each integer global.
    globals: Vec<(bool, i64)>,
}

fn parse(bytes: &[u8]) -> Parsed {
    use wasmparser::{BinaryReader, Payload};
    wasmparser::Validator::new()
        .validate_all(bytes)
        .expect("a core dump is a valid module");
    let mut parsed = Parsed::default();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.unwrap() {
            Payload::CustomSection(custom) => {
                parsed.customs.push(custom.name().to_string());
                let reader = BinaryReader::new(custom.data(), 0);
                parse_custom(&mut parsed, custom.name(), reader);
            }
            Payload::MemorySection(memories) => {
                let pages = memories.into_iter().map(|m| m.unwrap().initial);
                parsed.memory_pages = pages.collect();
            }
            Payload::DataSection(data) => {
                parsed.segments = data.into_iter().map(|d| segment(d.unwrap())).collect();
            }
            Payload::GlobalSection(globals) => {
                for global in globals {
                    let global = global.unwrap();
                    let value = constant(global.init_expr);
                    parsed.globals.push((global.ty.mutable, value));
                }
            }
            _ => {}
        }
    }
    parsed
}

fn parse_custom(parsed: &mut Parsed, name: &str, reader: wasmparser::BinaryReader<'_>) {
    use wasmparser::{
        CoreDumpInstancesSection, CoreDumpModulesSection, CoreDumpSection, CoreDumpStackSection,
    };
    match name {
        "core" => parsed.program = CoreDumpSection::new(reader).unwrap().name.to_string(),
        "coremodules" => {
            let modules = CoreDumpModulesSection::new(reader).unwrap().modules;
            parsed.modules = modules.iter().map(|m| m.to_string()).collect();
        }
        "coreinstances" => {
            let instances = CoreDumpInstancesSection::new(reader).unwrap().instances;
            let instances = instances.into_iter();
            parsed.instances = instances
                .map(|i| (i.module_index, i.memories, i.globals))
                .collect();
        }
        "corestack" => {
            let stack = CoreDumpStackSection::new(reader).unwrap();
            assert_eq!(stack.name, "main");
            let frames = stack.frames.iter();
            assert!(
                frames
                    .clone()
                    .all(|f| f.locals.is_empty() && f.stack.is_empty())
            );
            parsed.frames = frames
                .map(|f| (f.instanceidx, f.funcidx, f.codeoffset))
                .collect();
        }
        other => panic!("unexpected custom section `{other}`"),
    }
}

fn segment(data: wasmparser::Data<'_>) -> (u32, i32, Vec<u8>) {
    let wasmparser::DataKind::Active {
        memory_index,
        offset_expr,
    } = data.kind
    else {
        panic!("passive segment in a core dump");
    };
    let offset = constant(offset_expr) as i32;
    (memory_index, offset, data.data.to_vec())
}

fn constant(expr: wasmparser::ConstExpr<'_>) -> i64 {
    match expr.get_operators_reader().read().unwrap() {
        wasmparser::Operator::I32Const { value } => value.into(),
        wasmparser::Operator::I64Const { value } => value,
        other => panic!("unexpected constant {other:?}"),
    }
}

#[test]
fn the_serialized_dump_says_the_same_in_the_tool_conventions_format() {
    let (mut store, err) = trap(&engine(Compilation::Lazy, true));
    let dump = err.downcast_ref::<WasmCoreDump>().unwrap();
    let parsed = parse(&dump.serialize(&mut store, "trapper.wasm"));
    assert_eq!(
        parsed.customs,
        ["core", "coremodules", "coreinstances", "corestack"]
    );
    assert_eq!(parsed.program, "trapper.wasm");
    assert_eq!(parsed.modules, ["trapper"]);
    assert_eq!(parsed.instances, [(0, vec![0], vec![0])]);
    let expected: Vec<(u32, u32, u32)> = dump
        .frames()
        .iter()
        .map(|f| (0, f.func_index(), f.func_offset().unwrap() as u32))
        .collect();
    assert_eq!(parsed.frames, expected);
    assert_eq!(parsed.memory_pages, [10]);
    // Only the non-zero bytes: the i64 42 stored at 0x1234.
    assert_eq!(parsed.segments, [(0, 0x1234, vec![42])]);
    assert_eq!(parsed.globals, [(true, 36)]);
}

#[test]
fn a_host_error_crossing_wasm_carries_a_dump_as_in_wasmtime() {
    let engine = engine(Compilation::Lazy, true);
    let module = Module::new(
        &engine,
        r#"(module
          (import "" "hello" (func $hello))
          (func $run (export "run") (call $hello)))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let hello = Func::wrap(&mut store, || -> lazuli::Result<()> { bail!("test 123") });
    let instance = Instance::new(&mut store, &module, &[hello.into()]).unwrap();
    let run = instance
        .get_typed_func::<(), ()>(&mut store, "run")
        .unwrap();
    let err = run.call(&mut store, ()).unwrap_err();
    assert!(format!("{err:?}").contains("test 123"), "{err:?}");
    assert_eq!(err.root_cause().to_string(), "test 123");
    assert!(err.downcast_ref::<Trap>().is_none());
    let dump = err
        .downcast_ref::<WasmCoreDump>()
        .expect("a dump is attached");
    assert_eq!(frame_names(dump), ["run"]);
}

#[test]
fn a_trap_in_a_nested_entry_is_dumped_once_with_the_frames_of_both() {
    let engine = engine(Compilation::Lazy, true);
    let module = Module::new(
        &engine,
        r#"(module
          (import "host" "reenter" (func $reenter))
          (func $outer (export "outer") (call $reenter))
          (func $inner (export "inner") unreachable))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "reenter", |mut caller: Caller<'_, ()>| {
            let inner = caller.get_export("inner").unwrap().into_func().unwrap();
            inner.call(&mut caller, &[], &mut [])
        })
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let outer = instance
        .get_typed_func::<(), ()>(&mut store, "outer")
        .unwrap();
    let err = outer.call(&mut store, ()).unwrap_err();
    let dump = err.downcast_ref::<WasmCoreDump>().unwrap();
    assert_eq!(frame_names(dump), ["inner", "outer"]);
    let dumps = err
        .chain()
        .filter(|e| e.to_string().starts_with("wasm core dump"))
        .count();
    assert_eq!(dumps, 1);
}

/// Module `a` defines a memory and a global and a function that traps; module
/// `b` imports the host's memory and global and `a`'s global, and calls `a`'s
/// function.
const A: &str = r#"(module $a
  (memory (export "memory") 1)
  (global (export "global") (mut i32) (i32.const 6))
  (func (export "boom") unreachable))"#;
const B: &str = r#"(module $b
  (import "host" "memory" (memory 1))
  (import "host" "global" (global (mut i32)))
  (import "a" "global" (global (mut i32)))
  (import "a" "boom" (func $boom))
  (func (export "run") (call $boom)))"#;

#[test]
fn host_memories_and_globals_and_every_instance_are_in_the_dump() {
    let engine = engine(Compilation::Lazy, true);
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let memory = Memory::new(&mut store, MemoryType::new(1, None)).unwrap();
    memory.data_mut(&mut store)[7] = 9;
    let ty = GlobalType::new(ValType::I32, Mutability::Var);
    let global = Global::new(&mut store, ty, Val::I32(5)).unwrap();
    linker.define(&store, "host", "memory", memory).unwrap();
    linker.define(&store, "host", "global", global).unwrap();
    let a = linker
        .instantiate(&mut store, &Module::new(&engine, A).unwrap())
        .unwrap();
    linker.instance(&mut store, "a", a).unwrap();
    let b = linker
        .instantiate(&mut store, &Module::new(&engine, B).unwrap())
        .unwrap();
    let run = b.get_typed_func::<(), ()>(&mut store, "run").unwrap();
    let err = run.call(&mut store, ()).unwrap_err();
    let dump = err.downcast_ref::<WasmCoreDump>().unwrap();
    assert!(dump.instances() == [a, b]);
    assert_eq!((dump.memories().len(), dump.globals().len()), (2, 2));
    let parsed = parse(&dump.serialize(&mut store, "linked"));
    assert_eq!(parsed.modules, ["a", "b"]);
    // The host's memory and global were made first: index 0 in the dump.
    assert_eq!(
        parsed.instances,
        [(0, vec![1], vec![1]), (1, vec![0], vec![0, 1])]
    );
    // `boom` (a's function 0) in instance 0, then `run` (b's function 1) in 1.
    let frames: Vec<(u32, u32)> = parsed.frames.iter().map(|f| (f.0, f.1)).collect();
    assert_eq!(frames, [(0, 0), (1, 1)]);
    assert_eq!(parsed.memory_pages, [1, 1]);
    assert_eq!(parsed.segments, [(0, 7, vec![9])]);
    assert_eq!(parsed.globals, [(true, 5), (true, 6)]);
}

#[test]
fn a_64_bit_memory_is_dumped_as_one_with_i64_segment_offsets() {
    let engine = engine(Compilation::Lazy, true);
    let wat = TRAPPER
        .replace("(memory 10)", "(memory i64 10)")
        .replace("i32.const 0x1234", "i64.const 0x1234");
    let module = Module::new(&engine, wat).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let run = instance.get_func(&mut store, "run").unwrap();
    let err = run.call(&mut store, &[], &mut []).unwrap_err();
    let dump = err.downcast_ref::<WasmCoreDump>().unwrap();
    let bytes = dump.serialize(&mut store, "trapper64.wasm");
    let parsed = parse(&bytes);
    assert_eq!(parsed.memory_pages, [10]);
    assert_eq!(parsed.segments, [(0, 0x1234, vec![42])]);
    let memories = wasmparser::Parser::new(0)
        .parse_all(&bytes)
        .find_map(|p| match p {
            Ok(wasmparser::Payload::MemorySection(m)) => Some(m.into_iter().next()?.unwrap()),
            _ => None,
        });
    assert!(memories.expect("a memory section").memory64);
}
