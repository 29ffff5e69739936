//! Compilation off the threads that run Wasm: an engine's worker threads, which
//! recompile hot functions at the optimising tier (tier-up) and, on a machine with
//! cores to spare, compile ahead at the first tier the functions likely to be
//! called next. A job names its module weakly: a module dropped before its job
//! runs just skips it.

use crate::module::ModuleInner;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};

/// What a worker does for one function of one module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JobKind {
    /// Recompile it optimised and publish that in its slot.
    Optimize,
    /// Compile its OSR entry at this loop, for a running activation to enter.
    Osr(u32),
    /// Compile it at the first tier unless a call did already (or is doing so).
    CompileAhead,
}

struct Job {
    module: Weak<ModuleInner>,
    defined: u32,
    kind: JobKind,
}

/// The queue shared by an engine and its workers.
#[derive(Default)]
struct Queue {
    /// Compile-ahead jobs come first: each may save the thread running Wasm a
    /// compile it would wait for, and they run out when the call graph does.
    ahead: VecDeque<Job>,
    optimize: VecDeque<Job>,
    /// Workers started so far.
    workers: usize,
    /// Set when the engine is dropped: workers finish their job and exit.
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    work: Condvar,
}

/// An engine's background compiler; workers start on first use, up to
/// `max_workers`, and exit when it is dropped.
pub(crate) struct Background {
    shared: Arc<Shared>,
    max_workers: usize,
    /// Whether compiling ahead is worth it: there is a core beyond the one
    /// running Wasm.
    compile_ahead: bool,
}

/// Compile-ahead jobs beyond this many are dropped: on a huge module the queue
/// would otherwise hold work that is stale long before a worker gets to it.
const MAX_AHEAD: usize = 4096;

impl Background {
    pub(crate) fn new() -> Background {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Background {
            shared: Arc::default(),
            max_workers: cores.saturating_sub(1).max(1),
            compile_ahead: cores > 1,
        }
    }

    /// Whether [`Background::push`] accepts [`JobKind::CompileAhead`] jobs.
    pub(crate) fn compiles_ahead(&self) -> bool {
        self.compile_ahead
    }

    /// Queues `kind` for defined function `defined` of `module`, starting a worker
    /// if there is work and room for one.
    pub(crate) fn push(&self, module: Weak<ModuleInner>, defined: u32, kind: JobKind) {
        if kind == JobKind::CompileAhead && !self.compile_ahead {
            return;
        }
        let mut queue = self.lock();
        let job = Job {
            module,
            defined,
            kind,
        };
        match kind {
            JobKind::Optimize => queue.optimize.push_back(job),
            // An activation is waiting at its loop: before other tier-ups.
            JobKind::Osr(_) => queue.optimize.push_front(job),
            JobKind::CompileAhead if queue.ahead.len() < MAX_AHEAD => queue.ahead.push_back(job),
            JobKind::CompileAhead => return,
        }
        let pending = queue.optimize.len() + queue.ahead.len();
        if queue.workers < self.max_workers && pending > queue.workers && self.spawn_worker() {
            queue.workers += 1;
        }
        drop(queue);
        self.shared.work.notify_one();
    }

    /// Starts a worker; false if the system refused a thread (the jobs then wait
    /// for a worker that exists, or are never run, which only costs speed).
    fn spawn_worker(&self) -> bool {
        let shared = self.shared.clone();
        std::thread::Builder::new()
            .name("lazuli-compile".into())
            .spawn(move || work(&shared))
            .is_ok()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.lock().closed = true;
        self.shared.work.notify_all();
    }
}

/// A worker's loop: runs jobs, compile-ahead first, until the engine is dropped.
fn work(shared: &Shared) {
    loop {
        let job = {
            let mut queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if queue.closed {
                    return;
                }
                if let Some(job) = queue
                    .ahead
                    .pop_front()
                    .or_else(|| queue.optimize.pop_front())
                {
                    break job;
                }
                queue = shared
                    .work
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        if let Some(module) = job.module.upgrade() {
            match job.kind {
                JobKind::Optimize => module.optimize(job.defined),
                JobKind::Osr(loop_index) => drop(module.compile_osr(job.defined, loop_index)),
                JobKind::CompileAhead => module.compile_ahead(job.defined),
            }
        }
    }
}
