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

enum Flavor {
    /// `lazuli run`, with `--tier` and this value if any.
    Lazuli(Option<&'static str>),
    /// `wasmtime run -C cache=n`, with `-C compiler=winch` if set.
    Wasmtime {
        winch: bool,
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
            Flavor::Lazuli(tier) => {
                cmd.arg("run");
                if let Some(tier) = tier {
                    cmd.args(["--tier", tier]);
                }
                add_launch(&mut cmd, p, "::");
            }
            Flavor::Wasmtime { winch } => {
                cmd.args(["run", "-C", "cache=n"]);
                if *winch {
                    cmd.args(["-C", "compiler=winch"]);
                }
                add_launch(&mut cmd, p, "::");
            }
            Flavor::Wasmi => add_launch(&mut cmd, p, ""),
            Flavor::Node(script) => {
                if matches!(p.launch, Launch::Invoke { .. }) {
                    return Err("node-wasi.mjs runs WASI commands only".to_string());
                }
                cmd.arg("--no-warnings").arg(script);
                add_launch(&mut cmd, p, "::");
            }
        }
        Ok(cmd)
    }
}

/// Appends the options and operands shared by every CLI here: `--dir`, `--env`,
/// `--invoke NAME`, the file, then the arguments. With an empty `rename`, the runtime
/// cannot name a preopen (wasmi): the home is preopened under its host path and
/// `PYTHONHOME` names that instead.
fn add_launch(cmd: &mut Command, p: &Program, rename: &str) {
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
            cmd.arg(&p.wasm).args(args);
        }
        Launch::Invoke { name, args } => {
            cmd.args(["--invoke", name]).arg(&p.wasm).args(args);
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
        flavor: Flavor::Lazuli(Some("auto")),
        program: lazuli_exe(),
    };
    let tier_auto_runs = auto
        .command(probe)
        .ok()
        .and_then(|c| super::run_once(c).ok())
        .is_some();
    if !tier_auto_runs {
        eprintln!(
            "`lazuli run --tier auto` fails on {}: using no --tier",
            probe.name
        );
        auto.label = "Lazuli (default, no `--tier`)".to_string();
        auto.flavor = Flavor::Lazuli(None);
    }
    vec![
        auto,
        Runtime {
            label: "Lazuli `--tier fast`".to_string(),
            role: Role::LazuliFast,
            flavor: Flavor::Lazuli(Some("fast")),
            program: lazuli_exe(),
        },
        Runtime {
            label: "Lazuli `--tier optimized`".to_string(),
            role: Role::LazuliOptimized,
            flavor: Flavor::Lazuli(Some("optimized")),
            program: lazuli_exe(),
        },
        Runtime {
            label: "Wasmtime 49 (Cranelift)".to_string(),
            role: Role::Wasmtime,
            flavor: Flavor::Wasmtime { winch: false },
            program: fetched(wasmtime.clone()),
        },
        Runtime {
            label: "Wasmtime 49, Winch".to_string(),
            role: Role::Winch,
            flavor: Flavor::Wasmtime { winch: true },
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
