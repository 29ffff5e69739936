//! The persistent code cache (`Config::cache`): a later engine reuses what an
//! earlier one compiled, at every tier; a damaged, foreign or edited entry is
//! compiled again, never run; engines filling one directory at once all succeed;
//! the size bound evicts the least recently used entries.

use lazuli::{
    Cache, CacheConfig, CompileStats, Config, Engine, Instance, Module, Store, Tiering, Validation,
};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Three functions, `a` calling `b`; `c` is only called when asked for.
const WAT: &str = r#"(module
  (type $t (func (param i32) (result i32)))
  (table 1 funcref)
  (elem (i32.const 0) $b)
  (func $a (export "a") (param i32) (result i32)
    (call_indirect (type $t) (i32.add (local.get 0) (i32.const 1)) (i32.const 0)))
  (func $b (param i32) (result i32)
    (i32.mul (local.get 0) (i32.const 3)))
  (func $c (export "c") (param i32) (result i32)
    (local $i i32) (local $sum i32)
    (loop $l
      (local.set $sum (i32.add (local.get $sum) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get 0))))
    (local.get $sum)))"#;

/// A fresh directory for one test.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lazuli-cache-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// An engine with the cache in `dir`, compiling on the calling thread (so that
/// the statistics are complete when a call returns), with tier-up after
/// `budget` calls and loop iterations. Its validation is lazy, so that the only
/// entries are code (eager validation adds a marker per module).
fn engine(dir: &Path, budget: u32) -> Engine {
    Engine::new(config(dir).tier_up_budget(budget)).unwrap()
}

/// A cache in `dir`.
fn cache_in(dir: &Path) -> Option<Cache> {
    let mut config = CacheConfig::new();
    config.with_directory(dir);
    Some(Cache::new(config).unwrap())
}

/// The configuration of [`engine`], without the budget.
fn config(dir: &Path) -> Config {
    let mut config = Config::new();
    config
        .cache(cache_in(dir))
        .background_compilation(false)
        .validation(Validation::Lazy);
    config
}

/// Instantiates [`WAT`] in a new module of `engine`.
fn instantiate(engine: &Engine) -> (Module, Store<()>, Instance) {
    let module = Module::new(engine, WAT).unwrap();
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    (module, store, instance)
}

fn call(store: &mut Store<()>, instance: &Instance, name: &str, arg: i32) -> i32 {
    let f = instance
        .get_typed_func::<i32, i32>(&mut *store, name)
        .unwrap();
    f.call(&mut *store, arg).unwrap()
}

/// Runs `a(4)` in a new engine on `dir`; the module's statistics.
fn run_a(dir: &Path) -> CompileStats {
    let (module, mut store, instance) = instantiate(&engine(dir, 1_000_000));
    assert_eq!(call(&mut store, &instance, "a", 4), 15);
    module.compile_stats()
}

/// The entry files in the cache directory `dir`.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for bucket in std::fs::read_dir(dir).unwrap().flatten() {
        if bucket.file_name().len() == 2 && bucket.path().is_dir() {
            found.extend(
                std::fs::read_dir(bucket.path())
                    .unwrap()
                    .flatten()
                    .map(|e| e.path()),
            );
        }
    }
    found.sort();
    found
}

#[test]
fn a_second_engine_compiles_nothing_the_first_one_compiled() {
    let dir = fresh_dir("second");
    let first = run_a(&dir);
    assert_eq!(first.functions_compiled, 2, "a and b");
    assert_eq!((first.cache_hits, first.cache_stored), (0, 2));
    let second = run_a(&dir);
    assert_eq!(second.functions_compiled, 0, "{second:?}");
    assert_eq!((second.cache_hits, second.cache_stored), (2, 0));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn only_functions_that_never_ran_before_are_compiled() {
    let dir = fresh_dir("new-only");
    run_a(&dir);
    let (module, mut store, instance) = instantiate(&engine(&dir, 1_000_000));
    assert_eq!(call(&mut store, &instance, "a", 1), 6);
    assert_eq!(call(&mut store, &instance, "c", 5), 10);
    let stats = module.compile_stats();
    assert_eq!(stats.functions_compiled, 1, "only c: {stats:?}");
    assert_eq!(stats.cache_hits, 2);
    drop((module, store, instance));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_function_that_tiered_up_before_starts_optimised() {
    let dir = fresh_dir("tiered");
    let c_index = 2;
    {
        // A budget of 1 tiers `c` up during its first call (its OSR entry too).
        let (module, mut store, instance) = instantiate(&engine(&dir, 1));
        assert_eq!(call(&mut store, &instance, "c", 100), 4950);
        assert!(module.compile_stats().functions_optimized >= 1);
    }
    let (module, mut store, instance) = instantiate(&engine(&dir, 1));
    assert_eq!(call(&mut store, &instance, "c", 100), 4950);
    let stats = module.compile_stats();
    assert_eq!(stats.functions_compiled, 0, "{stats:?}");
    assert_eq!(
        stats.functions_optimized, 0,
        "nothing recompiled: {stats:?}"
    );
    assert_eq!(
        stats.cache_hits, 2,
        "the fast entry, which says to take the optimised one"
    );
    // Optimised code does not count: the budget the slot started with is untouched.
    assert_eq!(module.tier_up_budget(c_index), Some(i32::MAX));
    drop((module, store, instance));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_tier_keeps_its_own_entries() {
    let dir = fresh_dir("tiers");
    let run = |tiering| {
        let mut config = Config::new();
        config
            .cache(cache_in(&dir))
            .tiering(tiering)
            .background_compilation(false);
        let (module, mut store, instance) = instantiate(&Engine::new(&config).unwrap());
        assert_eq!(call(&mut store, &instance, "a", 4), 15);
        module.compile_stats()
    };
    assert_eq!(run(Tiering::Fast).functions_compiled, 2);
    assert_eq!(
        run(Tiering::Optimized).functions_compiled,
        2,
        "not the fast code"
    );
    assert_eq!(run(Tiering::Optimized).cache_hits, 2);
    assert_eq!(run(Tiering::Fast).cache_hits, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Damages every entry (the trampolines' too) with `damage`, then checks that a
/// new engine refuses them all, compiles the functions, runs them correctly, and
/// mends the cache.
fn refused_after(name: &str, damage: impl Fn(&Path)) {
    let dir = fresh_dir(name);
    run_a(&dir);
    let files = entries(&dir);
    assert!(files.len() >= 2, "a, b and the trampolines");
    files.iter().for_each(|f| damage(f));
    let stats = run_a(&dir);
    assert_eq!(stats.cache_rejected, 2, "{stats:?}");
    assert_eq!((stats.cache_hits, stats.functions_compiled), (0, 2));
    assert_eq!(run_a(&dir).cache_hits, 2, "the compiled code replaced them");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_truncated_entry_is_compiled_again() {
    refused_after("truncated", |f| {
        let bytes = std::fs::read(f).unwrap();
        std::fs::write(f, &bytes[..bytes.len() / 2]).unwrap();
    });
}

#[test]
fn a_corrupted_entry_is_compiled_again() {
    refused_after("corrupted", |f| {
        let mut bytes = std::fs::read(f).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        std::fs::write(f, &bytes).unwrap();
    });
}

#[test]
fn an_empty_entry_is_compiled_again() {
    refused_after("empty", |f| std::fs::write(f, b"").unwrap());
}

#[test]
fn a_huge_entry_is_refused_without_being_read() {
    // 4 GiB, sparse: reading it whole would exhaust memory.
    refused_after("huge", |f| {
        let file = std::fs::File::options().write(true).open(f).unwrap();
        file.set_len(4 << 30).unwrap();
    });
}

#[test]
fn an_entry_edited_without_the_cache_key_is_compiled_again() {
    // Whoever edits the code (here: every byte after the header turned into a
    // trap instruction) cannot give it a valid MAC without the secret in `key`.
    refused_after("edited", |f| {
        let mut bytes = std::fs::read(f).unwrap();
        for b in &mut bytes[84..] {
            *b = 0xcc;
        }
        std::fs::write(f, &bytes).unwrap();
    });
}

#[test]
fn an_entry_stored_under_another_function_is_compiled_again() {
    // Each file given the next one's contents: every entry is authentic, but
    // for another key.
    let dir = fresh_dir("swapped");
    run_a(&dir);
    let files = entries(&dir);
    let contents: Vec<_> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    for (i, f) in files.iter().enumerate() {
        std::fs::write(f, &contents[(i + 1) % files.len()]).unwrap();
    }
    let stats = run_a(&dir);
    assert_eq!((stats.cache_rejected, stats.functions_compiled), (2, 2));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn entries_from_another_cache_directory_are_not_trusted() {
    // Another directory has another secret: its entries copied here fail the MAC.
    let (mine, theirs) = (fresh_dir("mine"), fresh_dir("theirs"));
    run_a(&mine);
    run_a(&theirs);
    for (m, t) in entries(&mine).iter().zip(entries(&theirs)) {
        std::fs::copy(&t, m).unwrap();
    }
    let stats = run_a(&mine);
    assert_eq!((stats.cache_rejected, stats.functions_compiled), (2, 2));
    std::fs::remove_dir_all(&mine).unwrap();
    std::fs::remove_dir_all(&theirs).unwrap();
}

#[test]
fn a_changed_body_gets_an_entry_of_its_own() {
    let dir = fresh_dir("changed");
    run_a(&dir);
    let changed = WAT.replace("(i32.const 3)", "(i32.const 5)");
    let module = Module::new(&engine(&dir, 1_000_000), &changed).unwrap();
    let mut store = Store::new(module.engine(), ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    assert_eq!(call(&mut store, &instance, "a", 4), 25);
    let stats = module.compile_stats();
    assert_eq!(
        (stats.cache_hits, stats.functions_compiled),
        (1, 1),
        "a hit, b not"
    );
    drop((module, store, instance));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn engines_filling_one_cache_at_once_all_succeed() {
    let dir = fresh_dir("concurrent");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let (_, mut store, instance) = instantiate(&engine(&dir, 1_000_000));
                    assert_eq!(call(&mut store, &instance, "a", 4), 15);
                    assert_eq!(call(&mut store, &instance, "c", 4), 6);
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let temps = std::fs::read_dir(dir.join("tmp")).unwrap().count();
    assert_eq!(temps, 0, "every temporary file was renamed into place");
    let stats = run_a(&dir);
    assert_eq!((stats.cache_hits, stats.cache_rejected), (2, 0));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every entry file of `dir` by name (a name is the key, the same in every cache
/// directory), with its size.
fn sizes(dir: &Path) -> BTreeMap<OsString, u64> {
    let size = |f: &PathBuf| f.metadata().unwrap().len();
    entries(dir)
        .iter()
        .map(|f| (f.file_name().unwrap().to_owned(), size(f)))
        .collect()
}

/// The entries a cache of its own gets from loading `wat` and calling its `c`
/// (if it has one) with 4, without those of `without`.
fn entries_of(wat: &str, without: &BTreeMap<OsString, u64>) -> BTreeMap<OsString, u64> {
    let dir = fresh_dir("scratch");
    let engine = engine(&dir, 1_000_000);
    let module = Module::new(&engine, wat).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    if let Ok(c) = instance.get_typed_func::<i32, i32>(&mut store, "c") {
        c.call(&mut store, 4).unwrap();
    }
    // Dropping the engine finishes the cache's writes.
    drop((engine, module, store, instance));
    let mut found = sizes(&dir);
    found.retain(|name, _| !without.contains_key(name));
    std::fs::remove_dir_all(&dir).unwrap();
    found
}

/// Dates every entry of `dir` `hours` back.
fn age_all(dir: &Path, hours: u64) {
    let then = SystemTime::now() - Duration::from_secs(3600 * hours);
    for f in entries(dir) {
        let file = std::fs::File::options().write(true).open(&f).unwrap();
        file.set_modified(then).unwrap();
    }
}

#[test]
fn the_size_bound_evicts_the_least_recently_used_entries() {
    // The trampolines of WAT's one function type, `c`'s entry, and the entry of
    // `c` with another body in the same module (its other keys are WAT's).
    let trampolines = entries_of(
        "(module (type (func (param i32) (result i32))))",
        &BTreeMap::new(),
    );
    let c = entries_of(WAT, &trampolines);
    let changed = WAT.replace("(i32.const 1)))", "(i32.const 2)))");
    let c2 = entries_of(&changed, &trampolines);
    assert_eq!((trampolines.len(), c.len(), c2.len()), (3, 1, 1));
    let dir = fresh_dir("bound");
    run_a(&dir);
    age_all(&dir, 3);
    // Running `c` uses (and so renews) the trampolines and adds `c`'s entry;
    // `a` and `b` stay three hours old.
    let (module, mut store, instance) = instantiate(&engine(&dir, 1_000_000));
    assert_eq!(call(&mut store, &instance, "c", 4), 6);
    drop((module, store, instance));
    // A bound that the recent entries and `c2`'s fit in, but not `a` or `b` too
    // (after a sweep, entries take at most nine tenths of it).
    let recent: u64 = [&trampolines, &c, &c2]
        .iter()
        .flat_map(|m| m.values())
        .sum();
    let mut config = config(&dir);
    let mut bounded = CacheConfig::new();
    bounded
        .with_directory(&dir)
        .with_files_total_size_soft_limit(recent * 10 / 9 + 10);
    config.cache(Some(Cache::new(bounded).unwrap()));
    let module = Module::new(&Engine::new(&config).unwrap(), &changed).unwrap();
    let mut store = Store::new(module.engine(), ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    assert_eq!(call(&mut store, &instance, "c", 4), 2, "0 + 2");
    drop((module, store, instance));
    let left = sizes(&dir);
    let expected: BTreeMap<_, _> = [trampolines, c, c2].into_iter().flatten().collect();
    assert_eq!(left, expected, "a and b, the least recently used, are gone");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_cache_directory_that_cannot_be_made_is_an_error() {
    let file = fresh_dir("not-a-dir");
    std::fs::write(&file, b"a file").unwrap();
    let mut config = CacheConfig::new();
    config.with_directory(file.join("cache"));
    let err = Cache::new(config).expect_err("no cache").to_string();
    assert!(err.contains("cannot use"), "{err}");
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn the_cache_is_off_unless_configured() {
    let engine = Engine::new(Config::new().background_compilation(false)).unwrap();
    let (module, mut store, instance) = instantiate(&engine);
    assert_eq!(call(&mut store, &instance, "a", 4), 15);
    assert_eq!(module.compile_stats().cache_stored, 0);
}

#[test]
fn an_invalid_module_stays_invalid_with_a_cache() {
    // Valid modules leave a marker that spares their next load the validation of
    // every body; an invalid one leaves none, and is refused every time.
    let dir = fresh_dir("invalid");
    let invalid = WAT.replace("(i32.mul (local.get 0) (i32.const 3))", "(i64.const 3)");
    let eager = Engine::new(config(&dir).validation(Validation::Eager)).unwrap();
    for _ in 0..2 {
        let err = Module::new(&eager, &invalid).unwrap_err();
        assert!(err.to_string().contains("invalid module"), "{err}");
    }
    // The second load of the valid module takes its marker: same results.
    for _ in 0..2 {
        let (_, mut store, instance) = instantiate(&eager);
        assert_eq!(call(&mut store, &instance, "a", 4), 15);
    }
    drop(eager);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_key_file_of_the_wrong_size_is_replaced() {
    // The old entries were authenticated with the old key: all refused.
    let dir = fresh_dir("bad-key");
    run_a(&dir);
    std::fs::write(dir.join("key"), [7; 64]).unwrap();
    let stats = run_a(&dir);
    assert_eq!((stats.cache_rejected, stats.functions_compiled), (2, 2));
    assert_eq!(std::fs::metadata(dir.join("key")).unwrap().len(), 32);
    assert_eq!(run_a(&dir).cache_hits, 2, "entries under the new key");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A module of 80 functions (enough for a pack), each `f{i}(x) = x + i`, and
/// `sum(x)` calling them all.
fn many_functions() -> String {
    let mut wat = String::from("(module\n");
    for i in 0..80 {
        wat += &format!(
            "  (func $f{i} (param i32) (result i32) (i32.add (local.get 0) (i32.const {i})))\n"
        );
    }
    wat += "  (func (export \"sum\") (param i32) (result i32) (local $s i32)\n";
    for i in 0..80 {
        wat += &format!("    (local.set $s (i32.add (local.get $s) (call $f{i} (local.get 0))))\n");
    }
    wat += "    (local.get $s)))";
    wat
}

/// Runs `sum(1)` of [`many_functions`] in a new engine on `dir`, which the
/// engine finishes writing to before this returns; the module's statistics.
fn run_sum(dir: &Path) -> CompileStats {
    let engine = engine(dir, 1_000_000);
    let module = Module::new(&engine, many_functions()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    // 80 * 1 + (0 + 1 + … + 79)
    assert_eq!(call(&mut store, &instance, "sum", 1), 80 + 79 * 80 / 2);
    module.compile_stats()
}

/// The largest file among `dir`'s entries: a module's pack holds them all.
fn largest_entry(dir: &Path) -> PathBuf {
    let files = entries(dir);
    let size = |f: &&PathBuf| f.metadata().unwrap().len();
    files.iter().max_by_key(size).unwrap().clone()
}

#[test]
fn a_large_modules_second_run_reads_its_entries_from_its_pack() {
    let dir = fresh_dir("pack");
    assert_eq!(run_sum(&dir).functions_compiled, 81);
    let pack = largest_entry(&dir);
    // Without any entry file but the pack, nothing is compiled.
    for f in entries(&dir).iter().filter(|f| **f != pack) {
        std::fs::remove_file(f).unwrap();
    }
    let second = run_sum(&dir);
    assert_eq!((second.functions_compiled, second.cache_hits), (0, 81));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_pack_is_written_again_only_when_its_module_used_something_new() {
    let dir = fresh_dir("pack-unchanged");
    run_sum(&dir);
    let pack = largest_entry(&dir);
    let before = std::fs::read(&pack).unwrap();
    run_sum(&dir);
    assert_eq!(
        std::fs::read(&pack).unwrap(),
        before,
        "all came from the pack"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_damaged_pack_falls_back_to_the_entry_files() {
    for (name, damage) in [
        (
            "pack-cut",
            (|b: &mut Vec<u8>| b.truncate(b.len() / 2)) as fn(&mut Vec<u8>),
        ),
        ("pack-flipped", |b| {
            b.iter_mut().skip(8).step_by(97).for_each(|x| *x ^= 1)
        }),
        ("pack-empty", |b| b.clear()),
    ] {
        let dir = fresh_dir(name);
        run_sum(&dir);
        let pack = largest_entry(&dir);
        let mut bytes = std::fs::read(&pack).unwrap();
        damage(&mut bytes);
        std::fs::write(&pack, &bytes).unwrap();
        let second = run_sum(&dir);
        assert_eq!(
            (second.functions_compiled, second.cache_hits),
            (0, 81),
            "{name}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// On a warm start the module's pack holds what it needs, and loading each
/// function where it is called beats a worker loading it ahead (a lock handoff
/// per function between the two threads): a module that ran before with the
/// cache queues nothing ahead, while its first run may.
#[test]
fn a_module_that_ran_before_with_the_cache_compiles_nothing_ahead() {
    let dir = fresh_dir("warm-ahead");
    let run = || {
        let mut config = config(&dir);
        config
            .background_compilation(true)
            .tiering(lazuli::Tiering::Fast);
        let engine = Engine::new(&config).unwrap();
        let module = Module::new(&engine, many_functions()).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        assert_eq!(call(&mut store, &instance, "sum", 1), 80 + 79 * 80 / 2);
        module.compile_stats()
    };
    run();
    for _ in 0..3 {
        let warm = run();
        assert_eq!(warm.functions_compiled, 0);
        assert_eq!(warm.functions_compiled_ahead, 0);
        assert_eq!(warm.cache_hits, 81);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
