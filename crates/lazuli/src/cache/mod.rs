//! The persistent code cache (`Config::cache`): one file per compiled function and
//! tier (and per OSR entry), so that a later run, or another engine, uses the code
//! a function was given before instead of compiling it again, and a function that
//! tiered up starts optimised.
//!
//! - `key.rs`: what an entry is keyed by — everything that decides the code.
//! - `entry.rs`: the file format and its checks; an entry is untrusted input.
//! - `evict.rs`: the size bound, least recently used first.
//!
//! Entries are written to a temporary file and renamed into place, so a reader sees
//! a whole entry or none, and processes filling the same directory at once never
//! see each other's partial files. Every failure to read or write the cache is a
//! miss: the function is compiled as if there were no cache.

mod entry;
mod evict;
mod key;

pub(crate) use key::{Key, ModuleContext, Tier, key, trampoline_key, validated_key};

use crate::codec::Bounds;
use anyhow::{Context, Result};
use lazuli_environ::CompiledFunction;
use std::fs::File;
use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Where the code cache lives and how large it may grow (`Config::cache`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CacheConfig {
    /// `None`: no cache (the default for an embedding).
    directory: Option<PathBuf>,
    max_bytes: u64,
}

impl CacheConfig {
    /// The size bound of a cache made with [`CacheConfig::new`]: 512 MiB.
    pub const DEFAULT_MAX_BYTES: u64 = 512 << 20;

    /// A cache in `directory` (created if missing), bounded to
    /// [`CacheConfig::DEFAULT_MAX_BYTES`].
    pub fn new(directory: impl Into<PathBuf>) -> CacheConfig {
        CacheConfig {
            directory: Some(directory.into()),
            max_bytes: CacheConfig::DEFAULT_MAX_BYTES,
        }
    }

    /// No cache: every run compiles what it runs.
    pub fn disabled() -> CacheConfig {
        CacheConfig::default()
    }

    /// The user's cache directory for Lazuli: `$XDG_CACHE_HOME/lazuli`, else
    /// `$HOME/.cache/lazuli`; `None` when neither variable is set.
    pub fn user_directory() -> Option<PathBuf> {
        let non_empty = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        match non_empty("XDG_CACHE_HOME") {
            Some(dir) => Some(PathBuf::from(dir).join("lazuli")),
            None => non_empty("HOME").map(|home| PathBuf::from(home).join(".cache/lazuli")),
        }
    }

    /// Bounds the cache to `bytes` of entries; beyond that the least recently used
    /// ones are removed.
    pub fn max_bytes(mut self, bytes: u64) -> CacheConfig {
        self.max_bytes = bytes;
        self
    }

    /// The cache's directory, or `None` when it is off.
    pub fn directory(&self) -> Option<&Path> {
        self.directory.as_deref()
    }
}

/// A function from the cache.
pub(crate) struct Cached {
    pub(crate) func: CompiledFunction,
    /// Whether its optimised code was stored too (first-tier entries only).
    pub(crate) tiered: bool,
}

/// What the cache did for a module (`CompileStats`).
#[derive(Default)]
pub(crate) struct CacheCounters {
    pub(crate) hits: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) stored: AtomicU64,
}

/// An open cache directory, shared by an engine's modules.
pub(crate) struct CodeCache {
    dir: PathBuf,
    /// The key entries are authenticated with (`DIR/key`).
    secret: [u8; 32],
    max_bytes: u64,
    /// Bytes this engine wrote since it last enforced the bound.
    written: AtomicU64,
    /// Whether this engine has stored anything yet.
    stored_once: AtomicBool,
}

/// Names this process's temporary files (with its id): unique across engines.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// An entry is touched (its time moved to now, for eviction) when it is used and
/// was last touched longer ago than this.
const TOUCH_AFTER: Duration = Duration::from_secs(600);

/// A process's first store enforces the bound if nobody did for this long.
const SWEEP_AFTER: Duration = Duration::from_secs(60);

impl CodeCache {
    /// Opens (creating it if needed) the cache `config` describes; `None` when the
    /// cache is off.
    pub(crate) fn open(config: &CacheConfig) -> Result<Option<CodeCache>> {
        let Some(dir) = config.directory() else {
            return Ok(None);
        };
        let cannot = || format!("cannot use `{}` as the code cache", dir.display());
        std::fs::create_dir_all(dir.join("tmp")).with_context(cannot)?;
        let secret = entry::secret(dir).with_context(cannot)?;
        Ok(Some(CodeCache {
            dir: dir.to_path_buf(),
            secret,
            max_bytes: config.max_bytes,
            written: AtomicU64::new(0),
            stored_once: AtomicBool::new(false),
        }))
    }

    fn path(&self, key: &Key) -> PathBuf {
        let hex = key.hex();
        self.dir.join(&hex[..2]).join(&hex[2..])
    }

    /// The function stored under `key`, if there is a whole, authentic entry for
    /// it whose contents fit `bounds`; anything else is a miss (counted as
    /// rejected in `counters` when a file was there).
    pub(crate) fn load(
        &self,
        key: &Key,
        bounds: &Bounds,
        counters: &CacheCounters,
    ) -> Option<Cached> {
        let file = File::open(self.path(key)).ok()?;
        let func = read_whole(&file).and_then(|(bytes, modified)| {
            let (func, flags) = entry::decode(&bytes, key, &self.secret, bounds)?;
            touch(&file, modified);
            let tiered = flags & entry::TIERED != 0;
            Some(Cached { func, tiered })
        });
        let Some(func) = func else {
            counters.rejected.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        counters.hits.fetch_add(1, Ordering::Relaxed);
        Some(func)
    }

    /// Whether there is an entry under `key` (not whether it is usable).
    pub(crate) fn contains(&self, key: &Key) -> bool {
        self.path(key).is_file()
    }

    /// Stores `func` under `key` (replacing any entry there), then enforces the size
    /// bound if it is due. Failures are ignored: the cache is an optimisation.
    /// `body_start` is where the function's body starts in its module.
    pub(crate) fn store(
        &self,
        key: &Key,
        func: &CompiledFunction,
        body_start: u32,
        counters: &CacheCounters,
    ) {
        let bytes = entry::encode(func, body_start, 0, key, &self.secret);
        if self.write(key, &bytes).is_ok() {
            counters.stored.fetch_add(1, Ordering::Relaxed);
        }
        let written = self
            .written
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let first = !self.stored_once.swap(true, Ordering::Relaxed);
        if written + bytes.len() as u64 >= self.max_bytes / 8 || (first && self.sweep_due()) {
            self.written.store(0, Ordering::Relaxed);
            let _ = evict::sweep(&self.dir, self.max_bytes);
        }
    }

    /// Marks the first-tier entry under `key` (fitting `bounds`) as [`entry::TIERED`]:
    /// its function's optimised code is in the cache too.
    pub(crate) fn mark_tiered(&self, key: &Key, bounds: &Bounds) {
        let counters = CacheCounters::default();
        if let Some(Cached {
            func,
            tiered: false,
        }) = self.load(key, bounds, &counters)
        {
            let bytes = entry::encode(&func, bounds.body_start, entry::TIERED, key, &self.secret);
            let _ = self.write(key, &bytes);
        }
    }

    /// Whether a marker (an entry without code, see [`CodeCache::store_marker`])
    /// is stored under `key`.
    pub(crate) fn has_marker(&self, key: &Key) -> bool {
        let counters = CacheCounters::default();
        self.load(key, &Bounds::TRAMPOLINE, &counters)
            .is_some_and(|c| c.func.code.is_empty())
    }

    /// Stores a marker under `key`: an authenticated entry that holds no code and
    /// says only that something (a module's validity) was established.
    pub(crate) fn store_marker(&self, key: &Key) {
        let counters = CacheCounters::default();
        self.store(key, &CompiledFunction::default(), 0, &counters);
    }

    /// Writes `bytes` to a temporary file and renames it to `key`'s path.
    fn write(&self, key: &Key, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path(key);
        let temp = temp_path(&self.dir, "entry");
        let written = File::create(&temp).and_then(|mut f| f.write_all(bytes));
        let renamed = written.and_then(|()| {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::rename(&temp, &path)
        });
        if renamed.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        renamed
    }

    /// Whether nobody enforced the bound for [`SWEEP_AFTER`]; marks it done if so.
    fn sweep_due(&self) -> bool {
        let marker = self.dir.join("swept");
        let age = std::fs::metadata(&marker)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok());
        let due = age.is_none_or(|age| age >= SWEEP_AFTER);
        if due {
            let _ = File::create(&marker).and_then(|f| f.set_modified(SystemTime::now()));
        }
        due
    }
}

/// A name for a new temporary file in the cache `dir`, unique to this process
/// and call.
pub(super) fn temp_path(dir: &Path, label: &str) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!("{label}.{}.{n}", std::process::id());
    dir.join("tmp").join(name)
}

/// The contents of `file` and its modification time, read with one `fstat` and
/// one `read` for an entry (entries are never written in place, so the size
/// cannot change under the reader; a file that is shorter than its size said is
/// refused).
fn read_whole(mut file: &File) -> Option<(Vec<u8>, Option<SystemTime>)> {
    let meta = file.metadata().ok()?;
    let mut bytes = vec![0; usize::try_from(meta.len()).ok()?];
    file.read_exact(&mut bytes).ok()?;
    Some((bytes, meta.modified().ok()))
}

/// Moves `file`'s modification time (`modified`) to now unless it is recent: the
/// eviction order is by that time, and access times are often not kept.
fn touch(file: &File, modified: Option<SystemTime>) {
    let now = SystemTime::now();
    let stale = modified
        .and_then(|t| now.duration_since(t).ok())
        .is_none_or(|age| age >= TOUCH_AFTER);
    if stale {
        let _ = file.set_modified(now);
    }
}
