//! `lazuli`: the command-line front end of the Lazuli WebAssembly runtime.
//!
//! ```text
//! lazuli run [--dir HOST[::GUEST]]... [--env KEY=VALUE]... [--inherit-env] FILE [ARGS...]
//! lazuli run [--invoke NAME] [--compile lazy|eager] [--tier auto|fast|optimized]
//!            [--tier-up-budget N] [--cache DIR|off] FILE [ARGS...]
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
    CacheConfig, Compilation, Config, DEFAULT_TIER_UP_BUDGET, Engine, ExternType, Linker, Module,
    Store, Tiering, Trap, Val, ValType, WasmBacktrace,
};
use lazuli_wasi::{I32Exit, WasiCtx, WasiCtxBuilder};

const USAGE: &str = "\
lazuli: a WebAssembly runtime with a Cranelift JIT

Usage:
  lazuli run [--invoke NAME] FILE [ARGS...]
      Compile FILE (.wasm binary, .wat text or a module precompiled by
      `lazuli compile -o`) and instantiate it.
      Without --invoke, call its `_start` export: a WASI command gets ARGS as its
      arguments (after FILE as argv[0]), inherits stdin, stdout and stderr, and its
      `proc_exit` code becomes lazuli's exit status.
      With --invoke NAME, call the exported function NAME with ARGS, parsed by its
      parameter types (i32/i64: decimal integers; f32/f64: decimal floats, `nan`,
      `inf`, `-inf`), and print each result on its own line.
  Options of `run` (before FILE):
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
      Wasm code, bytes of machine code and the compile time. --target compiles for
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
    /// `--compile`, `--tier` and `--tier-up-budget`.
    config: Config,
    /// `--cache`: `None` for the user's cache directory.
    cache: Option<CacheConfig>,
    /// `--dir`: (host path, guest name).
    dirs: Vec<(&'a str, &'a str)>,
    /// `--env`: (key, value).
    env: Vec<(&'a str, &'a str)>,
    inherit_env: bool,
    file: &'a str,
    args: &'a [String],
}

fn parse_run_args(args: &[String]) -> Result<Option<RunArgs<'_>>> {
    let mut invoke = None;
    let mut config = Config::new();
    let mut cache = None;
    let (mut dirs, mut env, mut inherit_env) = (Vec::new(), Vec::new(), false);
    let mut i = 0;
    while i < args.len() {
        let taken = tier_option(args, i, &mut config, true)?;
        if taken > 0 {
            i += taken;
            continue;
        }
        if let Some((value, taken)) = option_value(args, i, "--cache") {
            cache = Some(parse_cache(value)?);
            i += taken;
            continue;
        }
        let arg = args[i].as_str();
        match arg {
            "--help" | "-h" => return Ok(None),
            "--invoke" => {
                let name = args
                    .get(i + 1)
                    .ok_or_else(|| anyhow!("`--invoke` needs a function name"))?;
                invoke = Some(name.as_str());
                i += 2;
            }
            "--dir" | "--env" => {
                let value = args
                    .get(i + 1)
                    .ok_or_else(|| anyhow!("`{arg}` needs a value"))?;
                wasi_option(arg, value, &mut dirs, &mut env)?;
                i += 2;
            }
            "--inherit-env" => {
                inherit_env = true;
                i += 1;
            }
            "--compile" => {
                let mode = args
                    .get(i + 1)
                    .ok_or_else(|| anyhow!("`--compile` needs `lazy` or `eager`"))?;
                config.compilation(parse_compilation(mode)?);
                i += 2;
            }
            _ if arg.starts_with("--compile=") => {
                config.compilation(parse_compilation(&arg["--compile=".len()..])?);
                i += 1;
            }
            _ if arg.starts_with("--dir=") || arg.starts_with("--env=") => {
                let (name, value) = arg.split_at(5);
                wasi_option(name, &value[1..], &mut dirs, &mut env)?;
                i += 1;
            }
            "--" => {
                i += 1;
                break;
            }
            _ if arg.starts_with("--invoke=") => {
                invoke = Some(&arg["--invoke=".len()..]);
                i += 1;
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
    Ok(Some(RunArgs {
        invoke,
        config,
        cache,
        dirs,
        env,
        inherit_env,
        file,
        args: &args[i + 1..],
    }))
}

/// Parses the value of `--cache`, missing if it was the last argument.
fn parse_cache(value: Option<&str>) -> Result<CacheConfig> {
    match value {
        Some("off") => Ok(CacheConfig::disabled()),
        Some(dir) if !dir.is_empty() => Ok(CacheConfig::new(dir)),
        _ => bail!("`--cache` needs a directory or `off`"),
    }
}

/// The engine of `lazuli run`: with the `--cache` given, else with the user's
/// cache directory if it can be used, else with no cache.
fn run_engine(args: &RunArgs<'_>) -> Result<Engine> {
    let mut config = args.config.clone();
    if let Some(cache) = &args.cache {
        config.cache(cache.clone());
        return Engine::new(&config);
    }
    if let Some(dir) = CacheConfig::user_directory() {
        config.cache(CacheConfig::new(dir));
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

/// The WASI context of `lazuli run`: inherited stdio, FILE and ARGS as arguments,
/// the `--env` variables and the `--dir` directories.
fn wasi_ctx(args: &RunArgs<'_>) -> Result<WasiCtx> {
    let mut builder = WasiCtxBuilder::new();
    builder.inherit_stdio().arg(args.file);
    if args.invoke.is_none() {
        builder.args(args.args);
    }
    if args.inherit_env {
        builder.inherit_env();
    }
    for (key, value) in &args.env {
        builder.env(key, value);
    }
    for (host, guest) in &args.dirs {
        builder.preopened_dir(host, *guest)?;
    }
    Ok(builder.build())
}

fn run(args: &[String]) -> Result<ExitCode> {
    let Some(args) = parse_run_args(args)? else {
        return print_usage();
    };
    let engine = run_engine(&args)?;
    let module = compile_file(&engine, Path::new(args.file))?;
    let mut store = Store::new(&engine, wasi_ctx(&args)?);
    // WASI preview 1 is the only host module: any other import is reported as
    // unknown, naming the first one.
    let mut linker = Linker::<WasiCtx>::new(&engine);
    lazuli_wasi::add_to_linker(&mut linker, |ctx| ctx)?;
    let instance = linker.instantiate(&mut store, &module)?;

    match args.invoke {
        Some(name) => {
            let func = match instance.get_func(&mut store, name) {
                Some(func) => func,
                None if module.get_export(name).is_some() => {
                    bail!("export `{name}` is not a function")
                }
                None => bail!("no exported function named `{name}`"),
            };
            let ty = func.ty(&store);
            let params = parse_params(name, &ty.params().collect::<Vec<_>>(), args.args)?;
            let mut results: Vec<Val> = ty.results().map(Val::default_for).collect();
            if let Err(err) = func.call(&mut store, &params, &mut results) {
                return exit_status(err);
            }
            let mut text = String::new();
            for result in &results {
                writeln!(text, "{}", format_val(result))?;
            }
            std::io::stdout().lock().write_all(text.as_bytes())?;
        }
        None => {
            // ARGS without --invoke are the program's WASI argv (see `wasi_ctx`).
            let func = match module.get_export("_start") {
                Some(ExternType::Func(_)) => instance.get_func(&mut store, "_start"),
                _ => None,
            };
            let Some(func) = func else {
                bail!(
                    "`{}` does not export a `_start` function; use `--invoke NAME` to call another export",
                    args.file
                );
            };
            let ty = func.ty(&store);
            if ty.params().len() != 0 {
                bail!("`_start` must take no parameters, but its type is {ty}");
            }
            let mut results: Vec<Val> = ty.results().map(Val::default_for).collect();
            if let Err(err) = func.call(&mut store, &[], &mut results) {
                return exit_status(err);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `lazuli compile [--target TRIPLE] [--tier auto|fast|optimized] FILE [-o OUT]`:
/// compiles every function eagerly and prints what it cost, or with `-o` writes
/// the precompiled module to OUT.
fn compile(args: &[String]) -> Result<ExitCode> {
    let mut config = Config::new();
    config.compilation(Compilation::Eager);
    let (mut file, mut output) = (None, None);
    let mut i = 0;
    while i < args.len() {
        let taken = tier_option(args, i, &mut config, false)?;
        if taken > 0 {
            i += taken;
            continue;
        }
        if let Some((value, taken)) = option_value(args, i, "--target") {
            config.target(value.ok_or_else(|| anyhow!("`--target` needs a triple"))?);
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
        // SAFETY: the user names the file to run; a precompiled module is trusted
        // like the native program it is (the usage says so), its header is
        // checked against this engine before anything in it is used, and the
        // file is mapped, not read, so it must not change while it runs.
        return unsafe { Module::deserialize_file(engine, path) }.with_context(failed);
    }
    let binary = read_module_bytes(path)?;
    Module::from_binary(engine, &binary).with_context(failed)
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

/// Parses command-line arguments by the parameter types of `func`.
fn parse_params(func: &str, types: &[ValType], args: &[String]) -> Result<Vec<Val>> {
    if args.len() != types.len() {
        let list: Vec<String> = types.iter().map(ToString::to_string).collect();
        bail!(
            "`{func}` takes {} argument{} ({}), but {} {} given",
            types.len(),
            if types.len() == 1 { "" } else { "s" },
            list.join(", "),
            args.len(),
            if args.len() == 1 { "was" } else { "were" },
        );
    }
    types
        .iter()
        .zip(args)
        .enumerate()
        .map(|(i, (&ty, arg))| {
            parse_val(ty, arg).with_context(|| {
                format!(
                    "argument {} of `{func}`: cannot parse `{arg}` as {ty}",
                    i + 1
                )
            })
        })
        .collect()
}

fn parse_val(ty: ValType, arg: &str) -> Result<Val> {
    Ok(match ty {
        ValType::I32 => Val::I32(arg.parse()?),
        ValType::I64 => Val::I64(arg.parse()?),
        ValType::F32 => Val::F32(arg.parse::<f32>()?.to_bits()),
        ValType::F64 => Val::F64(arg.parse::<f64>()?.to_bits()),
        other => bail!("parameters of type {other} cannot be given on the command line"),
    })
}

/// Formats a result: integers in decimal, floats in Rust's shortest round-trip form.
fn format_val(val: &Val) -> String {
    match *val {
        Val::I32(v) => v.to_string(),
        Val::I64(v) => v.to_string(),
        Val::F32(bits) => f32::from_bits(bits).to_string(),
        Val::F64(bits) => f64::from_bits(bits).to_string(),
        Val::V128(v) => format!("{v:#034x}"),
        Val::FuncRef(None) | Val::ExternRef(None) => "null".to_string(),
        Val::FuncRef(Some(_)) => "funcref".to_string(),
        Val::ExternRef(Some(_)) => "externref".to_string(),
    }
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
