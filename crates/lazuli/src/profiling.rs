//! Watching compilation from outside: a progress callback for eager compiles
//! ([`Config::compile_progress`]) and the perf map of compiled functions
//! ([`Config::profiler`] with [`ProfilingStrategy::PerfMap`]).

use crate::Config;
use lazuli_environ::ModuleInfo;
use std::fmt;
use std::fs::File;
use std::io::Write as _;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

/// How compiled code is made known to profilers (Wasmtime's names; Lazuli has
/// the perf map only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProfilingStrategy {
    /// No profiler is told anything (the default).
    #[default]
    None,
    /// Every Wasm function is named in `/tmp/perf-PID.map` when its code is
    /// published (eagerly, lazily at its first call, or when it tiers up), so
    /// that `perf report` names Wasm functions.
    PerfMap,
}

/// Told of an eager compile's progress: `(functions done, functions in all)`.
type Progress = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// The compilation hooks of a [`Config`].
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    progress: Option<Progress>,
    pub(crate) profiler: ProfilingStrategy,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("progress", &self.progress.is_some())
            .field("profiler", &self.profiler)
            .finish()
    }
}

impl Hooks {
    /// Tells the progress callback, if any, that `done` of `total` functions of
    /// an eager compile are compiled.
    pub(crate) fn progress(&self, done: usize, total: usize) {
        if let Some(progress) = &self.progress {
            progress(done, total);
        }
    }
}

impl Config {
    /// Which profiler to make compiled code known to (default
    /// [`ProfilingStrategy::None`]). The perf map is one file per process:
    /// every engine with [`ProfilingStrategy::PerfMap`] appends to it.
    pub fn profiler(&mut self, strategy: ProfilingStrategy) -> &mut Self {
        self.hooks.profiler = strategy;
        self
    }

    /// Calls `progress(done, total)` while a module's functions are compiled
    /// eagerly ([`crate::Compilation::Eager`], or
    /// [`crate::Engine::precompile_module`]): after each function, from the
    /// thread that compiled it, with `done` counting up to `total`, the module's
    /// number of defined functions. Functions compiled lazily are not counted.
    /// Wasmtime has no such hook; Lazuli's CLI draws its progress bar with it.
    pub fn compile_progress(
        &mut self,
        progress: impl Fn(usize, usize) + Send + Sync + 'static,
    ) -> &mut Self {
        self.hooks.progress = Some(Arc::new(progress));
        self
    }
}

/// The process's perf map, opened (and emptied) when the first function is
/// recorded: `None` before, or if it cannot be written.
static PERF_MAP: Mutex<Option<Option<File>>> = Mutex::new(None);

/// Records `functions` of `module`, each a code range and its function index, in
/// the perf map: one line `START SIZE NAME` each, in hex. A map that cannot be
/// written is skipped (profiling is best effort; the program runs on).
pub(crate) fn record_perf_map(module: &ModuleInfo, functions: &[(Range<usize>, u32)]) {
    let mut text = String::new();
    for (range, index) in functions {
        let name = match module.func_name(*index) {
            Some(name) => name.to_string(),
            None => format!("wasm-function[{index}]"),
        };
        let qualified = match &module.name {
            Some(module) => format!("{module}::{name}"),
            None => name,
        };
        text.push_str(&format!(
            "{:x} {:x} {qualified}\n",
            range.start,
            range.len()
        ));
    }
    let mut map = PERF_MAP.lock().unwrap_or_else(PoisonError::into_inner);
    let file = map
        .get_or_insert_with(|| File::create(format!("/tmp/perf-{}.map", std::process::id())).ok());
    if let Some(file) = file {
        // One write per batch, so that the lines of concurrent batches stay whole.
        let _ = file.write_all(text.as_bytes());
    }
}
