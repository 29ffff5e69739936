//! `lazuli`: the command-line front end of the Lazuli WebAssembly runtime.
//!
//! ```text
//! lazuli run [--dir HOST[::GUEST]]... [--env KEY=VALUE]... [--inherit-env] FILE [ARGS...]
//! lazuli run [--invoke NAME] [--compile lazy|eager] [--tier auto|fast|optimized]
//!            [--tier-up-budget N] [--cache DIR|off] FILE [ARGS...]
//! lazuli run [-W KEY=VALUE]... [--preload NAME=PATH]... [--coredump-on-trap PATH]
//!            [--profile perfmap] FILE [ARGS...]
//! lazuli compile [--target TRIPLE] [--tier auto|fast|optimized] FILE [-o OUT]
//! lazuli wast [--tier auto|fast|optimized] [--tier-up-budget N] FILE...
//! ```
//!
//! Exit status: 0 on success; 1 on any error, including a Wasm trap and a `.wast` script
//! with failing directives. A WASI program that calls `proc_exit` exits with its code. Errors are one `error: …` line on stderr; a trap is
//! `error: wasm trap: <message>` followed by the Wasm backtrace.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use lazuli::{
    Cache, CacheConfig, Compilation, Config, DEFAULT_TIER_UP_BUDGET, Engine, ExternType, Instance,
    Linker, Module, ProfilingStrategy, Store, StoreLimits, StoreLimitsBuilder, Tiering, Trap, Val,
    WasmBacktrace,
};
use lazuli_wasi::p1::{self, WasiP1Ctx};
use lazuli_wasi::{DirPerms, FilePerms, I32Exit, WasiCtxBuilder};

use wasm_opts::WasmOptions;

mod coredump;
mod invoke;
mod progress;
mod wasm_opts;

const USAGE: &str = "\
lazuli: a WebAssembly runtime with a Cranelift JIT

Usage:
  lazuli run [--invoke NAME] FILE [ARGS...]
      Compile FILE (.wasm binary, .wat text or a module precompiled by
      `lazuli compile -o`) and instantiate it.
      Without --invoke, call its `_start` export: a WASI command gets ARGS as its
      arguments (after FILE as argv[0]), inherits stdin, stdout and stderr, and its
      `proc_exit` code becomes lazuli's exit status. A module without `_start`
      but with a `main` function export is run as with `--invoke main`.
      With --invoke NAME, call the exported function NAME with ARGS, parsed by its
      parameter types (i32/i64/v128: decimal integers or 0x hex bits; f32/f64:
      decimal floats, `nan`, `inf`, `-inf`; funcref: `null`; externref: `null` or
      any text, passed as a reference to it), and print each result on its own
      line as Wasmtime does (v128 as one decimal integer; references as
      `<funcref>`, `<null funcref>`, `<externref>`, `<null externref>`).
  Options of `run` (before FILE):
      -W KEY=VALUE[,KEY=VALUE...], --wasm KEY=VALUE
                           Wasm settings, named as by Wasmtime:
                           max-memory-size=BYTES (no memory may grow past it),
                           fuel=N (trap once N units of fuel are used),
                           timeout=DURATION (trap after it: 10s, 500ms, ...),
                           NAME=y|n to turn a proposal on or off: simd,
                           bulk-memory, reference-types, multi-value,
                           extended-const, relaxed-simd, tail-call,
                           multi-memory, memory64, threads,
                           function-references (on by default); gc,
                           exceptions,
                           custom-page-sizes, wide-arithmetic, stack-switching
                           are not implemented (only `=n` works);
                           relaxed-simd-deterministic=y|n (off by default).
      --preload NAME=PATH  Instantiate the module PATH first and let FILE import
                           its exports from the module NAME (repeatable; each may
                           import from the ones before it).
      --coredump-on-trap PATH
                           On a trap, write a Wasm core dump (the tool-conventions
                           format: the frames, memories and globals) to PATH.
      --profile perfmap    Name every compiled Wasm function in /tmp/perf-PID.map,
                           for `perf report`.
      --dir HOST[::GUEST]  Let the program use the host directory HOST (and nothing
                           outside it) under the name GUEST (default: HOST).
      --env KEY=VALUE      Set an environment variable of the program.
      --inherit-env        Pass lazuli's whole environment to the program.
      --compile lazy|eager Compile each function on its first call (lazy, the
                           default) or all of them before running (eager).
      --tier auto|fast|optimized
                           Compile each function quickly first and recompile the
                           ones that run long into the fastest code (auto, the
                           default); always compile quickly into slower code
                           (fast); or always into the fastest code Cranelift
                           makes (optimized).
      --tier-up-budget N   Under --tier auto, recompile a function once it has
                           made N calls and loop iterations (N >= 1; default %BUDGET%).
      --cache DIR|off      Keep the code of every function compiled in DIR and
                           reuse it in later runs (default: $XDG_CACHE_HOME/lazuli
                           or ~/.cache/lazuli); `off` compiles everything anew.
  lazuli compile [--target TRIPLE] [--tier auto|fast|optimized] FILE [-o OUT]
      Compile every function of FILE and print the number of functions, bytes of
      Wasm code, bytes of machine code and the compile time; on a terminal, a
      progress bar shows while a large module compiles (also under
      `run --compile eager`). --target compiles for
      another machine (e.g. aarch64-unknown-linux-gnu) without running anything;
      --tier is as for `run`. With -o OUT, write a precompiled module to OUT
      instead, which `lazuli run OUT` runs without compiling; it holds machine
      code that is run as it is, so run only precompiled modules you made.
  lazuli wast [--tier auto|fast|optimized] [--tier-up-budget N] FILE...
      Run WebAssembly spec scripts (.wast), print each failing directive and, last,
      `N passed, M failed`. The options are as for `run`.
  lazuli help | --help | -h
      Print this message.
  lazuli --version | -V
      Print the version.

Exit status: 0 on success, 1 on any error (including a Wasm trap and failing
.wast directives); the `proc_exit` code of a WASI program.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(code) => code,
        Err(err) => {
            report_error(&err);
            ExitCode::FAILURE
        }
    }
}

/// Prints `err` to stderr: a trap with its backtrace, anything else as one line.
fn report_error(err: &anyhow::Error) {
    let mut stderr = std::io::stderr().lock();
    // Errors writing to stderr have nowhere to go; ignore them.
    if let Some(trap) = err.downcast_ref::<Trap>() {
        let _ = writeln!(stderr, "error: wasm trap: {trap}");
        // A call refused before any Wasm ran (too little native stack) has none.
        let backtrace = err
            .downcast_ref::<WasmBacktrace>()
            .filter(|b| !b.frames().is_empty());
        if let Some(backtrace) = backtrace {
            let _ = write!(stderr, "{backtrace}");
        }
    } else {
        let _ = writeln!(stderr, "error: {}", one_line(&format!("{err:#}")));
    }
}

/// Joins the lines of a multi-line message so that every error is one line.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ")
}

fn dispatch(args: &[String]) -> Result<ExitCode> {
    let Some((command, rest)) = args.split_first() else {
        bail!("no command given; run `lazuli --help` for usage");
    };
    match command.as_str() {
        "run" => run(rest),
        "wast" => wast(rest),
        "compile" => compile(rest),
        "help" | "--help" | "-h" => print_usage(),
        "--version" | "-V" => {
            writeln!(
                std::io::stdout().lock(),
                "lazuli {}",
                env!("CARGO_PKG_VERSION")
            )?;
            Ok(ExitCode::SUCCESS)
        }
        other if other.starts_with('-') => {
            bail!("unknown option `{other}`; run `lazuli --help` for usage")
        }
        other => bail!("unknown command `{other}`; run `lazuli --help` for usage"),
    }
}

fn print_usage() -> Result<ExitCode> {
    let usage = USAGE.replace("%BUDGET%", &DEFAULT_TIER_UP_BUDGET.to_string());
    std::io::stdout().lock().write_all(usage.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// The arguments of `lazuli run`.
struct RunArgs<'a> {
    invoke: Option<&'a str>,
    /// `--compile`, `--tier`, `--tier-up-budget` and `--profile`.
    config: Config,
    /// `--cache`: `None` for the user's cache directory, `Some(None)` for `off`.
    cache: Option<Option<CacheConfig>>,
    /// `-W`.
    wasm: WasmOptions,
    /// `--preload`: (name, file), in order.
    preloads: Vec<(&'a str, &'a str)>,
    /// `--coredump-on-trap`.
    coredump: Option<&'a str>,
    /// `--dir`: (host path, guest name).
    dirs: Vec<(&'a str, &'a str)>,
    /// `--env`: (key, value).
    env: Vec<(&'a str, &'a str)>,
    inherit_env: bool,
    file: &'a str,
    args: &'a [String],
}

fn parse_run_args(args: &[String]) -> Result<Option<RunArgs<'_>>> {
    let mut run = RunArgs {
        invoke: None,
        config: Config::new(),
        cache: None,
        wasm: WasmOptions::default(),
        preloads: Vec::new(),
        coredump: None,
        dirs: Vec::new(),
        env: Vec::new(),
        inherit_env: false,
        file: "",
        args: &[],
    };
    let mut i = 0;
    while i < args.len() {
        let taken = tier_option(args, i, &mut run.config, true)?;
        if taken > 0 {
            i += taken;
            continue;
        }
        let taken = run_option(args, i, &mut run)?;
        if taken > 0 {
            i += taken;
            continue;
        }
        let arg = args[i].as_str();
        match arg {
            "--help" | "-h" => return Ok(None),
            "--inherit-env" => {
                run.inherit_env = true;
                i += 1;
            }
            "--" => {
                i += 1;
                break;
            }
            _ if arg.starts_with('-') && arg.len() > 1 => {
                bail!("unknown option `{arg}` for `lazuli run`; run `lazuli --help` for usage")
            }
            _ => break,
        }
    }
    let Some(file) = args.get(i) else {
        bail!("`lazuli run` needs a FILE; run `lazuli --help` for usage");
    };
    run.file = file;
    run.args = &args[i + 1..];
    Ok(Some(run))
}

/// If `args[i]` is an option of `lazuli run` with a value (as `NAME VALUE` or
/// `NAME=VALUE`; `-W` also as `-WVALUE`), applies it to `run` and returns how many
/// arguments it took; 0 if `args[i]` is something else.
fn run_option<'a>(args: &'a [String], i: usize, run: &mut RunArgs<'a>) -> Result<usize> {
    const NAMES: [&str; 9] = [
        "--invoke",
        "--dir",
        "--env",
        "--compile",
        "--cache",
        "--wasm",
        "--preload",
        "--coredump-on-trap",
        "--profile",
    ];
    let found = NAMES
        .iter()
        .find_map(|name| Some((*name, option_value(args, i, name)?)))
        .or_else(|| {
            let value = args[i].strip_prefix("-W")?;
            match value.is_empty() {
                true => Some(("--wasm", (args.get(i + 1).map(String::as_str), 2))),
                false => Some(("--wasm", (Some(value), 1))),
            }
        });
    let Some((name, (value, taken))) = found else {
        return Ok(0);
    };
    if name == "--cache" {
        run.cache = Some(parse_cache(value)?);
        return Ok(taken);
    }
    let value = value.ok_or_else(|| anyhow!("`{name}` needs a value"))?;
    match name {
        "--invoke" => run.invoke = Some(value),
        "--dir" | "--env" => wasi_option(name, value, &mut run.dirs, &mut run.env)?,
        "--compile" => {
            run.config.compilation(parse_compilation(value)?);
        }
        "--wasm" => run.wasm.parse(value)?,
        "--preload" => run.preloads.push(parse_preload(value)?),
        "--coredump-on-trap" => run.coredump = Some(value),
        _ => {
            run.config.profiler(parse_profile(value)?);
        }
    }
    Ok(taken)
}

/// Parses the value of `--preload NAME=PATH`.
fn parse_preload(value: &str) -> Result<(&str, &str)> {
    value
        .split_once('=')
        .filter(|(name, path)| !name.is_empty() && !path.is_empty())
        .ok_or_else(|| anyhow!("`--preload {value}`: expected NAME=PATH"))
}

/// Parses the value of `--profile`.
fn parse_profile(value: &str) -> Result<ProfilingStrategy> {
    match value {
        "perfmap" => Ok(ProfilingStrategy::PerfMap),
        other => bail!("`--profile {other}`: expected `perfmap`"),
    }
}

/// Parses the value of `--cache` (`None` for `off`), missing if it was the last
/// argument.
fn parse_cache(value: Option<&str>) -> Result<Option<CacheConfig>> {
    match value {
        Some("off") => Ok(None),
        Some(dir) if !dir.is_empty() => {
            let mut config = CacheConfig::new();
            config.with_directory(dir);
            Ok(Some(config))
        }
        _ => bail!("`--cache` needs a directory or `off`"),
    }
}

/// The engine of `lazuli run`: with the `--cache` given, else with the user's
/// cache directory if it can be used, else with no cache.
fn run_engine(args: &RunArgs<'_>) -> Result<Engine> {
    let mut config = args.config.clone();
    if let Some(cache) = &args.cache {
        config.cache(cache.clone().map(Cache::new).transpose()?);
        return Engine::new(&config);
    }
    if let Ok(cache) = Cache::new(CacheConfig::new()) {
        config.cache(Some(cache));
        if let Ok(engine) = Engine::new(&config) {
            return Ok(engine);
        }
    }
    Engine::new(&args.config)
}

/// Parses the value of `--compile`.
fn parse_compilation(mode: &str) -> Result<Compilation> {
    match mode {
        "lazy" => Ok(Compilation::Lazy),
        "eager" => Ok(Compilation::Eager),
        other => bail!("`--compile {other}`: expected `lazy` or `eager`"),
    }
}

/// If `args[i]` is `--tier` or (with `budget`) `--tier-up-budget`, as `NAME VALUE`
/// or `NAME=VALUE`, applies it to `config` and returns how many arguments it took;
/// 0 if `args[i]` is something else.
fn tier_option(args: &[String], i: usize, config: &mut Config, budget: bool) -> Result<usize> {
    if let Some((value, taken)) = option_value(args, i, "--tier") {
        config.tiering(parse_tier(value)?);
        return Ok(taken);
    }
    if let Some((value, taken)) = option_value(args, i, "--tier-up-budget").filter(|_| budget) {
        config.tier_up_budget(parse_budget(value)?);
        return Ok(taken);
    }
    Ok(0)
}

/// If `args[i]` is the option `name`: its value, from `NAME=VALUE` or from the next
/// argument (`None` if there is none), and how many arguments the option takes.
fn option_value<'a>(args: &'a [String], i: usize, name: &str) -> Option<(Option<&'a str>, usize)> {
    let arg = args.get(i)?;
    if arg == name {
        return Some((args.get(i + 1).map(String::as_str), 2));
    }
    let value = arg.strip_prefix(name)?.strip_prefix('=')?;
    Some((Some(value), 1))
}

/// Parses the value of `--tier`, which is missing if `--tier` was the last argument.
fn parse_tier(tier: Option<&str>) -> Result<Tiering> {
    const EXPECTED: &str = "`auto`, `fast` or `optimized`";
    match tier {
        Some("auto") => Ok(Tiering::Auto),
        Some("fast") => Ok(Tiering::Fast),
        Some("optimized") => Ok(Tiering::Optimized),
        Some(other) => bail!("`--tier {other}`: expected {EXPECTED}"),
        None => bail!("`--tier` needs {EXPECTED}"),
    }
}

/// Parses the value of `--tier-up-budget`, missing if it was the last argument.
fn parse_budget(budget: Option<&str>) -> Result<u32> {
    const EXPECTED: &str = "a whole number from 1 to 4294967295";
    let Some(text) = budget else {
        bail!("`--tier-up-budget` needs {EXPECTED}");
    };
    match text.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => bail!("`--tier-up-budget {text}`: expected {EXPECTED}"),
    }
}

/// Parses the value of `--dir HOST[::GUEST]` or `--env KEY=VALUE`.
fn wasi_option<'a>(
    option: &str,
    value: &'a str,
    dirs: &mut Vec<(&'a str, &'a str)>,
    env: &mut Vec<(&'a str, &'a str)>,
) -> Result<()> {
    if option == "--dir" {
        let (host, guest) = value.split_once("::").unwrap_or((value, value));
        if host.is_empty() || guest.is_empty() {
            bail!("`--dir {value}`: expected HOST or HOST::GUEST");
        }
        dirs.push((host, guest));
    } else {
        let Some((key, val)) = value.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            bail!("`--env {value}`: expected KEY=VALUE");
        };
        env.push((key, val));
    }
    Ok(())
}

/// What `lazuli run` calls: a WASI command's `_start` (which gets ARGS as its
/// arguments) or a function that gets ARGS as its parameters.
#[derive(Clone, Copy)]
enum Entry<'a> {
    Command,
    Invoke(&'a str),
}

/// The export to call: `--invoke NAME`, else `_start`, else `main` (Wasmer's
/// rule), else an error naming the exports.
fn entry_point<'a>(args: &RunArgs<'a>, module: &Module) -> Result<Entry<'a>> {
    if let Some(name) = args.invoke {
        return Ok(Entry::Invoke(name));
    }
    let is_func = |name| matches!(module.get_export(name), Some(ExternType::Func(_)));
    if is_func("_start") {
        return Ok(Entry::Command);
    }
    if is_func("main") {
        return Ok(Entry::Invoke("main"));
    }
    let exports: Vec<String> = module
        .exports()
        .map(|e| format!("`{}` ({})", e.name(), kind(&e.ty())))
        .collect();
    let listed = match exports.is_empty() {
        true => "it exports nothing".to_string(),
        false => format!("its exports are {}", exports.join(", ")),
    };
    bail!(
        "`{}` exports neither a `_start` nor a `main` function ({listed}); use `--invoke NAME` to call another export",
        args.file
    )
}

/// The kind of an export, as the text format names it.
fn kind(ty: &ExternType) -> &'static str {
    match ty {
        ExternType::Func(_) => "func",
        ExternType::Global(_) => "global",
        ExternType::Memory(_) => "memory",
        ExternType::Table(_) => "table",
    }
}

/// The WASI context of `lazuli run`: inherited stdio, FILE and (for a command)
/// ARGS as arguments, the `--env` variables and the `--dir` directories.
fn wasi_ctx(args: &RunArgs<'_>, entry: Entry<'_>) -> Result<WasiP1Ctx> {
    let mut builder = WasiCtxBuilder::new();
    builder.inherit_stdio().arg(args.file);
    if let Entry::Command = entry {
        builder.args(args.args);
    }
    if args.inherit_env {
        builder.inherit_env();
    }
    for (key, value) in &args.env {
        builder.env(key, value);
    }
    for (host, guest) in &args.dirs {
        builder.preopened_dir(host, *guest, DirPerms::all(), FilePerms::all())?;
    }
    Ok(builder.build_p1())
}

/// The data of `lazuli run`'s store.
struct Host {
    wasi: WasiP1Ctx,
    /// `-W max-memory-size`.
    limits: StoreLimits,
}

fn run(args: &[String]) -> Result<ExitCode> {
    let Some(mut args) = parse_run_args(args)? else {
        return print_usage();
    };
    args.wasm.configure(&mut args.config);
    args.config.coredump_on_trap(args.coredump.is_some());
    progress::show_on_terminal(&mut args.config);
    let engine = run_engine(&args)?;
    let module = compile_file(&engine, Path::new(args.file))?;
    let entry = entry_point(&args, &module)?;
    let mut limits = StoreLimitsBuilder::new();
    if let Some(bytes) = args.wasm.max_memory_size {
        limits = limits.memory_size(bytes);
    }
    let limits = limits.build();
    let host = Host {
        wasi: wasi_ctx(&args, entry)?,
        limits,
    };
    let mut store = Store::new(&engine, host);
    store.limiter(|host| &mut host.limits);
    interrupt(&args.wasm, &mut store)?;
    // WASI preview 1 and the preloaded modules are the only imports: any other is
    // reported as unknown, naming the first one.
    let mut linker = Linker::<Host>::new(&engine);
    p1::add_to_linker_sync(&mut linker, |host: &mut Host| &mut host.wasi)?;
    for (name, file) in &args.preloads {
        preload(&mut linker, &mut store, name, file)?;
    }
    let instance = linker.instantiate(&mut store, &module)?;
    let outcome = call_entry(&mut store, instance, &module, entry, args.args);
    let Err(err) = outcome else {
        return Ok(ExitCode::SUCCESS);
    };
    if let Some(path) = args.coredump {
        coredump::write_on_trap(Path::new(path), &mut store, &err, args.file)?;
    }
    exit_status(err)
}

/// Gives `store` the fuel of `-W fuel=N`, and for `-W timeout=DURATION` a
/// deadline of the next epoch, which a timer thread starts when the time is up.
fn interrupt(options: &WasmOptions, store: &mut Store<Host>) -> Result<()> {
    if let Some(fuel) = options.fuel {
        store.set_fuel(fuel)?;
    }
    if let Some(timeout) = options.timeout {
        store.set_epoch_deadline(1);
        let engine = store.engine().clone();
        std::thread::spawn(move || {
            std::thread::sleep(timeout);
            engine.increment_epoch();
        });
    }
    Ok(())
}

/// Instantiates the module in `file` with `linker` and defines its exports in
/// `linker` under `name` (`--preload NAME=FILE`).
fn preload(
    linker: &mut Linker<Host>,
    store: &mut Store<Host>,
    name: &str,
    file: &str,
) -> Result<()> {
    let path = Path::new(file);
    let module = compile_file(store.engine(), path)?;
    let instance = linker
        .instantiate(&mut *store, &module)
        .with_context(|| format!("cannot instantiate the preloaded module `{file}`"))?;
    linker.instance(&mut *store, name, instance)?;
    Ok(())
}

/// Calls `entry` of `instance` (of `module`): `_start` with nothing, or a function
/// with `args` parsed by its parameter types, printing its results.
fn call_entry(
    store: &mut Store<Host>,
    instance: Instance,
    module: &Module,
    entry: Entry<'_>,
    args: &[String],
) -> Result<()> {
    let name = match entry {
        Entry::Command => "_start",
        Entry::Invoke(name) => name,
    };
    let func = match instance.get_func(&mut *store, name) {
        Some(func) => func,
        None if module.get_export(name).is_some() => bail!("export `{name}` is not a function"),
        None => bail!("no exported function named `{name}`"),
    };
    let ty = func.ty(&*store);
    let params = match entry {
        Entry::Command if ty.params().len() != 0 => {
            bail!("`_start` must take no parameters, but its type is {ty}")
        }
        Entry::Command => Vec::new(),
        Entry::Invoke(_) => {
            invoke::parse_params(&mut *store, name, &ty.params().collect::<Vec<_>>(), args)?
        }
    };
    let mut results: Vec<Val> = ty.results().map(Val::default_for).collect();
    func.call(&mut *store, &params, &mut results)?;
    if let Entry::Invoke(_) = entry {
        let mut text = String::new();
        for result in &results {
            writeln!(text, "{}", invoke::format_val(result))?;
        }
        std::io::stdout().lock().write_all(text.as_bytes())?;
    }
    Ok(())
}

/// `lazuli compile [--target TRIPLE] [--tier auto|fast|optimized] FILE [-o OUT]`:
/// compiles every function eagerly and prints what it cost, or with `-o` writes
/// the precompiled module to OUT.
fn compile(args: &[String]) -> Result<ExitCode> {
    let mut config = Config::new();
    config.compilation(Compilation::Eager);
    progress::show_on_terminal(&mut config);
    let (mut file, mut output) = (None, None);
    let mut i = 0;
    while i < args.len() {
        let taken = tier_option(args, i, &mut config, false)?;
        if taken > 0 {
            i += taken;
            continue;
        }
        if let Some((value, taken)) = option_value(args, i, "--target") {
            config.target(value.ok_or_else(|| anyhow!("`--target` needs a triple"))?)?;
            i += taken;
            continue;
        }
        let out = option_value(args, i, "-o").or_else(|| option_value(args, i, "--output"));
        if let Some((value, taken)) = out {
            output = Some(value.ok_or_else(|| anyhow!("`-o` needs a file name"))?);
            i += taken;
            continue;
        }
        match args[i].as_str() {
            "--help" | "-h" => return print_usage(),
            flag if flag.starts_with('-') => {
                bail!("unknown option `{flag}` for `lazuli compile`; run `lazuli --help` for usage")
            }
            extra if file.is_some() => bail!("unexpected argument `{extra}` after FILE"),
            name => file = Some(name),
        }
        i += 1;
    }
    let Some(file) = file else {
        bail!("`lazuli compile` needs a FILE; run `lazuli --help` for usage");
    };
    if output.is_some() {
        // The settings of `lazuli run` (lazy: calls between functions go through
        // their slots), which refuses modules precompiled with others.
        config.compilation(Compilation::Lazy);
    }
    let engine = Engine::new(&config)?;
    match output {
        Some(output) => write_precompiled(&engine, Path::new(file), Path::new(output)),
        None => print_compile_stats(&engine, Path::new(file)),
    }
}

/// Compiles `file` and prints what it cost.
fn print_compile_stats(engine: &Engine, file: &Path) -> Result<ExitCode> {
    let module = compile_file(engine, file)?;
    let stats = module.compile_stats();
    let text = format!(
        "functions: {}\nwasm code bytes: {}\nmachine code bytes: {}\ncompile time: {:.3} ms\n",
        stats.functions_compiled,
        stats.wasm_bytes,
        stats.code_bytes,
        stats.compile_time.as_secs_f64() * 1000.0
    );
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// Precompiles `file` into the artifact `output`, which `lazuli run` runs.
fn write_precompiled(engine: &Engine, file: &Path, output: &Path) -> Result<ExitCode> {
    let binary = read_module_bytes(file)?;
    let artifact = engine
        .precompile_module(&binary)
        .with_context(|| format!("failed to compile `{}`", file.display()))?;
    std::fs::write(output, artifact)
        .with_context(|| format!("cannot write `{}`", output.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// The outcome of a call that failed: a WASI `proc_exit` is the process's exit
/// status (its low 8 bits, as a native program's would be); anything else is an error.
fn exit_status(err: anyhow::Error) -> Result<ExitCode> {
    match err.downcast_ref::<I32Exit>() {
        Some(I32Exit(code)) => Ok(ExitCode::from(*code as u8)),
        None => Err(err),
    }
}

/// Reads and compiles a `.wasm` or `.wat` file, or loads a precompiled module
/// (`lazuli compile -o`).
fn compile_file(engine: &Engine, path: &Path) -> Result<Module> {
    let failed = || format!("failed to compile `{}`", path.display());
    if starts_precompiled(path)? {
        // The file is mapped, not read: it must not change while it runs.
        // SAFETY: the user names the file to run, trusted like a native program
        // (the usage says so); its header is checked against this engine first.
        return unsafe { Module::deserialize_file(engine, path) }.with_context(failed);
    }
    let binary = read_module_bytes(path)?;
    // A module keeps the bytes read, uncopied; anything else goes to the binary
    // reader, whose error says what is wrong.
    match binary.starts_with(b"\0asm") {
        true => Module::from_vec(engine, binary),
        false => Module::from_binary(engine, &binary),
    }
    .with_context(failed)
}

/// Reads a module file: binary if it starts with the Wasm magic number (or the
/// precompiled one) or is named `*.wasm`; text otherwise, parsed here rather than
/// by `Module::new`, so that a syntax error is one line with its position.
fn read_module_bytes(path: &Path) -> Result<Vec<u8>> {
    let bytes = read_input(path)?;
    let is_binary = bytes.starts_with(b"\0asm")
        || Module::is_precompiled(&bytes)
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wasm"));
    match is_binary {
        true => Ok(bytes),
        false => parse_wat(path, &bytes),
    }
}

/// The largest FILE `lazuli` reads.
const MAX_INPUT_BYTES: u64 = 1 << 30;

/// Reads an input file, which must be a regular file of at most [`MAX_INPUT_BYTES`]:
/// a device such as `/dev/zero` never ends and a FIFO would block.
/// Whether the file at `path` starts like a precompiled module: one read of its
/// first bytes, for such a module is mapped rather than read.
fn starts_precompiled(path: &Path) -> Result<bool> {
    let mut magic = [0u8; 8];
    let file = open_input(path)?;
    let n = file
        .read_at(&mut magic, 0)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok(Module::is_precompiled(&magic[..n]))
}

fn read_input(path: &Path) -> Result<Vec<u8>> {
    let cannot_read = || format!("cannot read `{}`", path.display());
    let file = open_input(path)?;
    let mut bytes = Vec::new();
    // The bound holds even if the file grows while it is read.
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(cannot_read)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        bail!(
            "cannot read `{}`: it is larger than {MAX_INPUT_BYTES} bytes",
            path.display()
        );
    }
    Ok(bytes)
}

/// Opens the regular file at `path`, if it is no larger than an input may be.
fn open_input(path: &Path) -> Result<std::fs::File> {
    let cannot_read = || format!("cannot read `{}`", path.display());
    // Non-blocking, so that opening a FIFO with no writer returns at once (reading
    // a regular file ignores the flag); the type is then checked on the opened
    // file itself, which cannot be swapped for another between check and read.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_context(cannot_read)?;
    let metadata = file.metadata().with_context(cannot_read)?;
    if !metadata.is_file() {
        bail!("cannot read `{}`: not a regular file", path.display());
    }
    if metadata.len() > MAX_INPUT_BYTES {
        bail!(
            "cannot read `{}`: it is larger than {MAX_INPUT_BYTES} bytes",
            path.display()
        );
    }
    Ok(file)
}

/// Parses the text format into a binary module.
fn parse_wat(path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        anyhow!(
            "`{}` is neither a binary module nor UTF-8 text: {e}",
            path.display()
        )
    })?;
    let located = |e: wast::Error| {
        let (line, col) = e.span().linecol_in(text);
        anyhow!(
            "{}:{}:{}: {}",
            path.display(),
            line + 1,
            col + 1,
            one_line(&e.message())
        )
    };
    let buf = wast::parser::ParseBuffer::new(text).map_err(located)?;
    let mut wat = wast::parser::parse::<wast::Wat>(&buf).map_err(located)?;
    wat.encode().map_err(located)
}

fn wast(args: &[String]) -> Result<ExitCode> {
    if args.iter().any(|f| f == "--help" || f == "-h") {
        return print_usage();
    }
    let (config, files) = parse_wast_args(args)?;
    if files.is_empty() {
        bail!("`lazuli wast` needs at least one FILE; run `lazuli --help` for usage");
    }
    let mut stdout = std::io::stdout().lock();
    let (mut passed, mut failed) = (0, 0);
    for file in files {
        let source = String::from_utf8(read_input(Path::new(file))?)
            .map_err(|e| anyhow!("cannot read `{file}`: {e}"))?;
        // A fresh runner per script: scripts do not share instances or registrations.
        let mut runner = lazuli_wast::WastRunner::new(&config)?;
        let report = runner.run_script(file, &source);
        for failure in &report.failures {
            writeln!(
                stdout,
                "{file}:{}: {}: {}",
                failure.line,
                failure.directive,
                one_line(&failure.message)
            )?;
        }
        passed += report.passed;
        failed += report.failed;
    }
    writeln!(stdout, "{passed} passed, {failed} failed")?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The options of `lazuli wast` (`--tier`, `--tier-up-budget`) as a configuration,
/// and the files after them.
fn parse_wast_args(args: &[String]) -> Result<(Config, &[String])> {
    let mut config = Config::new();
    let mut i = 0;
    while i < args.len() {
        let taken = tier_option(args, i, &mut config, true)?;
        if taken > 0 {
            i += taken;
            continue;
        }
        match args[i].as_str() {
            "--" => {
                i += 1;
                break;
            }
            arg if arg.starts_with('-') && arg.len() > 1 => {
                bail!("unknown option `{arg}` for `lazuli wast`; run `lazuli --help` for usage")
            }
            _ => break,
        }
    }
    Ok((config, &args[i..]))
}
