//! Precompiled modules: `Engine::precompile_module`, `Module::serialize` and
//! `Module::deserialize` run without compiling, and refuse what they cannot run.

use lazuli::{Compilation, Config, Engine, Linker, Module, Store, Tiering, Trap, WasmBacktrace};

/// Direct calls, a call through a table, an import and a data segment.
const WAT: &str = r#"(module
  (import "host" "add" (func $add (param i32 i32) (result i32)))
  (type $t (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "lazuli")
  (table 1 funcref)
  (elem (i32.const 0) $triple)
  (func $triple (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
  (func (export "run") (param i32) (result i32)
    (call $add
      (call_indirect (type $t) (local.get 0) (i32.const 0))
      (i32.load8_u (i32.const 16)))))"#;

/// Instantiates `module` with its import and returns `run(arg)`.
fn run(module: &Module, arg: i32) -> i32 {
    let engine = module.engine();
    let mut linker = Linker::new(engine);
    linker
        .func_wrap("host", "add", |a: i32, b: i32| a + b)
        .unwrap();
    let mut store = Store::new(engine, ());
    let instance = linker.instantiate(&mut store, module).unwrap();
    let f = instance
        .get_typed_func::<i32, i32>(&mut store, "run")
        .unwrap();
    f.call(&mut store, arg).unwrap()
}

fn engine(config: &mut Config) -> Engine {
    Engine::new(config.background_compilation(false)).unwrap()
}

#[test]
fn a_precompiled_module_runs_without_compiling() {
    let engine = engine(&mut Config::new());
    let artifact = engine.precompile_module(WAT.as_bytes()).unwrap();
    assert!(Module::is_precompiled(&artifact));
    // SAFETY: the bytes come from `precompile_module` just above.
    let module = unsafe { Module::deserialize(&engine, &artifact) }.unwrap();
    assert_eq!(run(&module, 5), 15 + i32::from(b'l'));
    let stats = module.compile_stats();
    assert_eq!(stats.functions_compiled, 0, "{stats:?}");
    assert_eq!(
        stats.functions_optimized, 0,
        "precompiled code never tiers up"
    );
}

#[test]
fn a_serialized_module_loads_in_another_engine_with_the_same_config() {
    let mut config = Config::new();
    let module = Module::new(&engine(&mut config), WAT).unwrap();
    let artifact = module.serialize().unwrap();
    let other = engine(&mut config);
    // SAFETY: from `serialize`.
    let loaded = unsafe { Module::deserialize(&other, &artifact) }.unwrap();
    assert_eq!(run(&loaded, 7), run(&module, 7));
}

#[test]
fn every_tiering_and_compilation_mode_round_trips() {
    for tiering in [Tiering::Auto, Tiering::Fast, Tiering::Optimized] {
        for compilation in [Compilation::Lazy, Compilation::Eager] {
            let mut config = Config::new();
            config.tiering(tiering).compilation(compilation);
            let engine = engine(&mut config);
            let artifact = engine.precompile_module(WAT.as_bytes()).unwrap();
            // SAFETY: from `precompile_module`.
            let module = unsafe { Module::deserialize(&engine, &artifact) }.unwrap();
            assert_eq!(
                run(&module, 2),
                6 + i32::from(b'l'),
                "{tiering:?} {compilation:?}"
            );
        }
    }
}

#[test]
fn deserialize_file_reads_an_artifact() {
    let engine = engine(&mut Config::new());
    let path = std::env::temp_dir().join(format!("lazuli-serialize-{}.lzm", std::process::id()));
    std::fs::write(&path, engine.precompile_module(WAT.as_bytes()).unwrap()).unwrap();
    // SAFETY: the file holds what `precompile_module` wrote.
    let module = unsafe { Module::deserialize_file(&engine, &path) }.unwrap();
    assert_eq!(run(&module, 1), 3 + i32::from(b'l'));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn an_artifact_from_another_config_is_refused() {
    let artifact = engine(Config::new().tiering(Tiering::Fast))
        .precompile_module(WAT.as_bytes())
        .unwrap();
    let engine = engine(&mut Config::new());
    // SAFETY: from `precompile_module`; the header check refuses it first.
    let err = unsafe { Module::deserialize(&engine, &artifact) }.unwrap_err();
    assert!(err.to_string().contains("other settings"), "{err}");
}

#[test]
fn an_artifact_for_another_target_is_refused() {
    let triple = match cfg!(target_arch = "x86_64") {
        true => "aarch64-unknown-linux-gnu",
        false => "x86_64-unknown-linux-gnu",
    };
    let cross = Engine::new(Config::new().target(triple).unwrap()).unwrap();
    let artifact = cross.precompile_module(WAT.as_bytes()).unwrap();
    let host = engine(&mut Config::new());
    // SAFETY: from `precompile_module`; the header check refuses it first.
    let err = unsafe { Module::deserialize(&host, &artifact) }.unwrap_err();
    assert!(
        err.to_string().contains(&format!("compiled for {triple}")),
        "{err}"
    );
}

#[test]
fn bytes_that_are_not_an_artifact_are_refused() {
    let engine = engine(&mut Config::new());
    let wasm = wat::parse_str(WAT).unwrap();
    // SAFETY: not an artifact at all: refused by the magic number.
    let err = unsafe { Module::deserialize(&engine, &wasm) }.unwrap_err();
    assert!(
        err.to_string().contains("not a precompiled Lazuli module"),
        "{err}"
    );
    let artifact = engine.precompile_module(&wasm).unwrap();
    for len in [8, 20, artifact.len() / 2, artifact.len() - 1] {
        // SAFETY: a truncated artifact: refused before any code is used.
        let err = unsafe { Module::deserialize(&engine, &artifact[..len]) }.unwrap_err();
        assert!(
            err.to_string().contains("truncated or corrupt"),
            "{len}: {err}"
        );
    }
}

/// Loading trusts an artifact's contents past its header (the caller's promise),
/// but it still reads the Wasm module, the index and the places it gives with
/// checks: a damaged one is an error or loads, and never panics or reads out of
/// bounds. Every byte up to the code image (the first 64 KiB of this small
/// artifact) is damaged in turn; the module is never run.
#[test]
fn a_damaged_index_or_module_in_an_artifact_is_an_error_never_a_panic() {
    let engine = engine(&mut Config::new());
    let artifact = engine.precompile_module(WAT.as_bytes()).unwrap();
    let used = artifact[..64 * 1024].iter().rposition(|&b| b != 0).unwrap();
    let mut refused = 0;
    for at in 0..=used {
        let mut damaged = artifact.clone();
        damaged[at] ^= 0xa5;
        // SAFETY: never run; only loading is tried (see above).
        refused += usize::from(unsafe { Module::deserialize(&engine, &damaged) }.is_err());
    }
    assert!(
        refused > used / 2,
        "{refused} of {used} damaged artifacts refused"
    );
}

#[test]
fn precompiling_an_invalid_module_is_an_error() {
    let engine = engine(&mut Config::new());
    let err = engine
        .precompile_module(b"(module (func (result i32)))")
        .unwrap_err();
    assert!(format!("{err:#}").contains("invalid module"), "{err:#}");
}

#[test]
fn an_artifact_from_another_lazuli_version_is_refused() {
    let engine = engine(&mut Config::new());
    let mut artifact = engine.precompile_module(WAT.as_bytes()).unwrap();
    // The version follows the magic number and the format: a length, then text.
    let version = env!("CARGO_PKG_VERSION").as_bytes();
    let at = artifact
        .windows(version.len())
        .position(|w| w == version)
        .expect("the version in the header");
    artifact[at] = b'9';
    // SAFETY: refused by the header check before anything else is read.
    let err = unsafe { Module::deserialize(&engine, &artifact) }.unwrap_err();
    assert!(err.to_string().contains("made by Lazuli 9"), "{err}");
}

/// The permissions of the mappings of `path` in this process.
fn mappings_of(path: &std::path::Path) -> Vec<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let path = path.to_str().unwrap();
    maps.lines()
        .filter(|line| line.ends_with(path))
        .map(|line| line.split_whitespace().nth(1).unwrap_or("").to_string())
        .collect()
}

#[test]
fn a_precompiled_file_is_mapped_and_its_code_runs_where_it_lies() {
    for compilation in [Compilation::Lazy, Compilation::Eager] {
        let engine = engine(Config::new().compilation(compilation));
        let artifact = engine.precompile_module(WAT.as_bytes()).unwrap();
        let path = std::env::temp_dir().join(format!(
            "lazuli-mapped-{}-{compilation:?}.lzm",
            std::process::id()
        ));
        std::fs::write(&path, &artifact).unwrap();
        // SAFETY: from `precompile_module`, and nothing changes the file.
        let module = unsafe { Module::deserialize_file(&engine, &path) }.unwrap();
        let maps = mappings_of(&path);
        assert!(
            maps.iter().any(|m| m == "r-xp"),
            "{compilation:?}: {maps:?}"
        );
        assert!(maps.iter().all(|m| !m.contains('w')), "{maps:?}");
        assert_eq!(run(&module, 3), 9 + i32::from(b'l'));
        let stats = module.compile_stats();
        assert_eq!(stats.code_memory_bytes, 0, "nothing copied: {stats:?}");
        // An instance's memory maps its image from the artifact, copy-on-write.
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap("host", "add", |a: i32, b: i32| a + b)
            .unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let memory = instance.get_memory(&mut store, "memory").unwrap();
        assert_eq!(&memory.data(&store)[16..22], b"lazuli");
        assert!(
            mappings_of(&path).iter().any(|m| m == "rw-p"),
            "{:?}",
            mappings_of(&path)
        );
        memory.data_mut(&mut store)[16] = b'L';
        assert_eq!(
            std::fs::read(&path).unwrap(),
            artifact,
            "the file is unchanged"
        );
        drop(store);
        assert_eq!(stats.functions_compiled, 0);
        drop(module);
        assert_eq!(mappings_of(&path), Vec::<String>::new(), "unmapped on drop");
        std::fs::remove_file(&path).unwrap();
    }
}

/// Traps in precompiled code have their kind and a Wasm backtrace with
/// offsets: the side tables, read in place in the artifact, answer.
#[test]
fn a_trap_in_precompiled_code_has_its_kind_and_backtrace() {
    let wat = r#"(module $m
      (func $inner (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0)))
      (func $outer (export "div") (param i32) (result i32) (call $inner (local.get 0))))"#;
    let engine = engine(&mut Config::new());
    let artifact = engine.precompile_module(wat.as_bytes()).unwrap();
    // SAFETY: from `precompile_module`.
    let module = unsafe { Module::deserialize(&engine, &artifact) }.unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let div = instance
        .get_typed_func::<i32, i32>(&mut store, "div")
        .unwrap();
    let err = div.call(&mut store, 0).unwrap_err();
    assert_eq!(
        err.downcast_ref::<Trap>(),
        Some(&Trap::IntegerDivisionByZero)
    );
    let frames = err.downcast_ref::<WasmBacktrace>().unwrap().frames();
    let names: Vec<_> = frames.iter().map(|f| f.func_name()).collect();
    assert_eq!(names, [Some("inner"), Some("outer")]);
    // `i32.div_u` in $inner, and the call in $outer, at their module offsets.
    let offsets: Vec<u32> = frames
        .iter()
        .map(|f| f.module_offset().unwrap() as u32)
        .collect();
    let binary = wat::parse_str(wat).unwrap();
    assert_eq!(
        binary[offsets[0] as usize], 0x6e,
        "i32.div_u at {offsets:?}"
    );
    assert_eq!(binary[offsets[1] as usize], 0x10, "call at {offsets:?}");
    assert_eq!(div.call(&mut store, 2).unwrap(), 0);
}
