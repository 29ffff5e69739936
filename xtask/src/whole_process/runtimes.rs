//! The runtimes compared, and the command line each runs a program with.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Program;
use super::report::Role;

/// How a program is started.
pub(crate) enum Launch {
    /// A WASI command: `_start`, with these arguments (after argv\[0\]).
    Command {
        args: Vec<String>,
        /// Python's home: a host directory preopened as `/`, and `PYTHONHOME=/`.
        home: Option<PathBuf>,
        /// A host directory preopened under its own path (so every runtime, wasmi
        /// too, names it alike): where the Lua row's script is.
        dir: Option<PathBuf>,
    },
    /// The exported function `name`, called with `args`; its results are printed.
    Invoke { name: String, args: Vec<String> },
}

impl Launch {
    /// A WASI command without arguments.
    pub(crate) fn plain() -> Self {
        Launch::Command {
            args: Vec::new(),
            home: None,
            dir: None,
        }
    }
}

/// How much of a program's code a run finds compiled already.
#[derive(Clone)]
enum Start {
    /// Nothing: `lazuli run --cache off`, `wasmtime run -C cache=n`.
    Cold,
    /// Nothing, from a Lazuli too old to have a code cache (no `--cache` flag).
    NoCacheFlag,
    /// A code cache the untimed first run filled: Lazuli's in this directory,
    /// Wasmtime's own (its default cache).
    Warm(PathBuf),
    /// A precompiled module, made once in this directory (`lazuli compile -o`,
    /// `wasmtime compile -o`) and run without compiling.
    Precompiled(PathBuf),
}

enum Flavor {
    /// `lazuli run`, with `--tier` and this value if any.
    Lazuli(Option<&'static str>, Start),
    /// `wasmtime run`, with `-C compiler=winch` if set.
    Wasmtime {
        winch: bool,
        start: Start,
    },
    Wasmi,
    /// node with `scripts/node-wasi.mjs` (this path).
    Node(PathBuf),
}

pub(crate) struct Runtime {
    pub label: String,
    pub role: Role,
    flavor: Flavor,
    /// The executable, or why there is none.
    program: Result<PathBuf, String>,
}

impl Runtime {
    /// The command that runs `p`, or why this runtime does not run it.
    pub(crate) fn command(&self, p: &Program) -> Result<Command, String> {
        let exe = self.program.as_ref().map_err(Clone::clone)?;
        let mut cmd = Command::new(exe);
        match &self.flavor {
            Flavor::Lazuli(tier, start) => {
                cmd.arg("run");
                if let Some(tier) = tier {
                    cmd.args(["--tier", tier]);
                }
                let file = match start {
                    Start::Cold => {
                        cmd.args(["--cache", "off"]);
                        p.wasm.clone()
                    }
                    Start::NoCacheFlag => p.wasm.clone(),
                    Start::Warm(dir) => {
                        cmd.arg("--cache").arg(dir);
                        p.wasm.clone()
                    }
                    Start::Precompiled(dir) => {
                        cmd.args(["--cache", "off"]);
                        precompiled(exe, p, dir, "lzm", &[])?
                    }
                };
                add_launch(&mut cmd, p, &file, "::");
            }
            Flavor::Wasmtime { winch, start } => {
                cmd.arg("run");
                if *winch {
                    cmd.args(["-C", "compiler=winch"]);
                }
                let file = match start {
                    Start::Cold | Start::NoCacheFlag => {
                        cmd.args(["-C", "cache=n"]);
                        p.wasm.clone()
                    }
                    Start::Warm(_) => p.wasm.clone(),
                    Start::Precompiled(dir) => {
                        cmd.arg("--allow-precompiled");
                        precompiled(exe, p, dir, "cwasm", &["-C", "cache=n"])?
                    }
                };
                add_launch(&mut cmd, p, &file, "::");
            }
            Flavor::Wasmi => add_launch(&mut cmd, p, &p.wasm, ""),
            Flavor::Node(script) => {
                if matches!(p.launch, Launch::Invoke { .. }) {
                    return Err("node-wasi.mjs runs WASI commands only".to_string());
                }
                cmd.arg("--no-warnings").arg(script);
                add_launch(&mut cmd, p, &p.wasm, "::");
            }
        }
        Ok(cmd)
    }
}

/// The precompiled module of `p` in `dir` (named after it, with extension `ext`),
/// made first with `exe compile [options] WASM -o OUT` if it is not there.
fn precompiled(
    exe: &Path,
    p: &Program,
    dir: &Path,
    ext: &str,
    options: &[&str],
) -> Result<PathBuf, String> {
    let stem = p.wasm.file_stem().unwrap_or_default().to_string_lossy();
    let out = dir.join(format!("{stem}.{ext}"));
    if out.is_file() {
        return Ok(out);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let status = Command::new(exe)
        .arg("compile")
        .args(options)
        .arg(&p.wasm)
        .arg("-o")
        .arg(&out)
        .status()
        .map_err(|e| format!("{} compile: {e}", exe.display()))?;
    match status.success() {
        true => Ok(out),
        false => Err(format!("{} compile failed ({status})", exe.display())),
    }
}

/// Appends the options and operands shared by every CLI here: `--dir`, `--env`,
/// `--invoke NAME`, `file` (the program's, or its precompiled module), then the
/// arguments. With an empty `rename`, the runtime
/// cannot name a preopen (wasmi): the home is preopened under its host path and
/// `PYTHONHOME` names that instead.
fn add_launch(cmd: &mut Command, p: &Program, file: &Path, rename: &str) {
    match &p.launch {
        Launch::Command { args, home, dir } => {
            if let Some(dir) = dir {
                cmd.arg("--dir").arg(dir);
            }
            if let Some(home) = home {
                let host = home.display();
                if rename.is_empty() {
                    cmd.arg("--dir").arg(home);
                    cmd.arg("--env").arg(format!("PYTHONHOME={host}"));
                } else {
                    cmd.arg("--dir").arg(format!("{host}{rename}/"));
                    cmd.args(["--env", "PYTHONHOME=/"]);
                }
            }
            cmd.arg(file).args(args);
        }
        Launch::Invoke { name, args } => {
            cmd.args(["--invoke", name]).arg(file).args(args);
        }
    }
}

/// Every runtime of the table, in its order. Whether `lazuli run --tier auto` exists is
/// probed on `probe` (a program every runtime runs): without it, the first Lazuli row
/// runs without `--tier` and is labelled "default".
pub(crate) fn all(root: &Path, inputs: &Path, lazuli: &Path, probe: &Program) -> Vec<Runtime> {
    let fetched = |path: PathBuf| {
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{} not found (run scripts/fetch-bench-inputs.sh)",
                path.display()
            ))
        }
    };
    let lazuli_exe = || {
        if lazuli.is_file() {
            Ok(lazuli.to_path_buf())
        } else {
            Err(format!("{} not found", lazuli.display()))
        }
    };
    let wasmtime = inputs.join("wasmtime/wasmtime");
    let mut auto = Runtime {
        label: "Lazuli `--tier auto`".to_string(),
        role: Role::LazuliDefault,
        flavor: Flavor::Lazuli(Some("auto"), Start::Cold),
        program: lazuli_exe(),
    };
    let mut tier_auto_runs = runs(&auto, probe);
    if !tier_auto_runs {
        auto.flavor = Flavor::Lazuli(Some("auto"), Start::NoCacheFlag);
        tier_auto_runs = runs(&auto, probe);
    }
    if !tier_auto_runs {
        eprintln!(
            "`lazuli run --tier auto` fails on {}: using no --tier",
            probe.name
        );
        auto.label = "Lazuli (default, no `--tier`)".to_string();
        auto.flavor = Flavor::Lazuli(None, Start::NoCacheFlag);
    }
    // A Lazuli from before the code cache has no `--cache` (and no cache).
    let cold = match &auto.flavor {
        Flavor::Lazuli(tier, Start::Cold) if !runs(&auto, probe) => {
            auto.flavor = Flavor::Lazuli(*tier, Start::NoCacheFlag);
            Start::NoCacheFlag
        }
        Flavor::Lazuli(_, start) => start.clone(),
        _ => Start::Cold,
    };
    vec![
        auto,
        Runtime {
            label: "Lazuli `--tier fast`".to_string(),
            role: Role::LazuliFast,
            flavor: Flavor::Lazuli(Some("fast"), cold.clone()),
            program: lazuli_exe(),
        },
        Runtime {
            label: "Lazuli `--tier optimized`".to_string(),
            role: Role::LazuliOptimized,
            flavor: Flavor::Lazuli(Some("optimized"), cold),
            program: lazuli_exe(),
        },
        Runtime {
            label: "Wasmtime 49 (Cranelift)".to_string(),
            role: Role::Wasmtime,
            flavor: Flavor::Wasmtime {
                winch: false,
                start: Start::Cold,
            },
            program: fetched(wasmtime.clone()),
        },
        Runtime {
            label: "Wasmtime 49, Winch".to_string(),
            role: Role::Winch,
            flavor: Flavor::Wasmtime {
                winch: true,
                start: Start::Cold,
            },
            program: fetched(wasmtime),
        },
        Runtime {
            label: "wasmi 2.0.0".to_string(),
            role: Role::Wasmi,
            flavor: Flavor::Wasmi,
            program: fetched(inputs.join("wasmi/bin/wasmi")),
        },
        Runtime {
            label: format!("node {} (V8)", node_version().unwrap_or_default()),
            role: Role::Node,
            flavor: Flavor::Node(root.join("scripts/node-wasi.mjs")),
            program: node(),
        },
    ]
}

/// Whether `rt` runs `probe`.
fn runs(rt: &Runtime, probe: &Program) -> bool {
    rt.command(probe)
        .ok()
        .and_then(|c| super::run_once(c).ok())
        .is_some()
}

/// The runtimes of `--second-start`: Lazuli (`--tier auto`) and Wasmtime cold, with
/// a warm code cache, and precompiled; Lazuli's cache and both runtimes'
/// precompiled modules under `work`.
pub(crate) fn second_start(inputs: &Path, lazuli: &Path, work: &Path) -> Vec<Runtime> {
    let wasmtime = inputs.join("wasmtime/wasmtime");
    let peer = || match wasmtime.is_file() {
        true => Ok(wasmtime.clone()),
        false => Err(format!(
            "{} not found (run scripts/fetch-bench-inputs.sh)",
            wasmtime.display()
        )),
    };
    let lazuli = |label: &str, role, start| Runtime {
        label: label.to_string(),
        role,
        flavor: Flavor::Lazuli(Some("auto"), start),
        program: Ok(lazuli.to_path_buf()),
    };
    let wasmtime = |label: &str, role, start| Runtime {
        label: label.to_string(),
        role,
        flavor: Flavor::Wasmtime {
            winch: false,
            start,
        },
        program: peer(),
    };
    let cache = work.join("lazuli-cache");
    let artifacts = work.join("precompiled");
    vec![
        lazuli(
            "Lazuli `--tier auto`, cold",
            Role::LazuliDefault,
            Start::Cold,
        ),
        lazuli(
            "Lazuli, warm cache",
            Role::LazuliWarm,
            Start::Warm(cache.clone()),
        ),
        lazuli(
            "Lazuli, precompiled",
            Role::LazuliPrecompiled,
            Start::Precompiled(artifacts.clone()),
        ),
        wasmtime("Wasmtime 49, cold", Role::Wasmtime, Start::Cold),
        wasmtime(
            "Wasmtime 49, warm cache",
            Role::WasmtimeWarm,
            Start::Warm(cache),
        ),
        wasmtime(
            "Wasmtime 49, precompiled",
            Role::WasmtimePrecompiled,
            Start::Precompiled(artifacts),
        ),
    ]
}

fn node_version() -> Option<String> {
    let out = Command::new("node").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `node`, if it is 20 or later (`node:wasi` with `version: "preview1"`).
fn node() -> Result<PathBuf, String> {
    let version = node_version().ok_or("no `node` on PATH")?;
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| format!("cannot read node's version `{version}`"))?;
    if major < 20 {
        return Err(format!("node {version} is older than 20"));
    }
    Ok(PathBuf::from("node"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::whole_process::report::Kind;

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn second_start_command_lines() {
        let work = std::env::temp_dir().join(format!("xtask-second-{}", std::process::id()));
        let artifacts = work.join("precompiled");
        std::fs::create_dir_all(&artifacts).unwrap();
        // Made already, so that no compiler runs here.
        std::fs::write(artifacts.join("p.lzm"), b"").unwrap();
        let program = Program {
            name: "p".to_string(),
            kind: Kind::Short,
            wasm: PathBuf::from("/x/p.wasm"),
            launch: Launch::plain(),
        };
        let runtimes = second_start(&work, Path::new("/bin/lazuli"), &work);
        let line = |i: usize| args(&runtimes[i].command(&program).unwrap()).join(" ");
        assert_eq!(line(0), "run --tier auto --cache off /x/p.wasm");
        let cache = work.join("lazuli-cache");
        assert_eq!(
            line(1),
            format!("run --tier auto --cache {} /x/p.wasm", cache.display())
        );
        let lzm = artifacts.join("p.lzm");
        assert_eq!(
            line(2),
            format!("run --tier auto --cache off {}", lzm.display())
        );
        // Wasmtime was not fetched into `work`: its rows say so.
        let missing = runtimes[3].command(&program).unwrap_err();
        assert!(missing.contains("not found"), "{missing}");
        std::fs::remove_dir_all(&work).unwrap();
    }
}
