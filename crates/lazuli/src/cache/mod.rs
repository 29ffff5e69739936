//! The persistent code cache (`Config::cache`): one file per compiled function and
//! tier (and per OSR entry), so that a later run, or another engine, uses the code
//! a function was given before instead of compiling it again, and a function that
//! tiered up starts optimised.
//!
//! - `key.rs`: what an entry is keyed by — everything that decides the code.
//! - `entry.rs`: the file format and its checks; an entry is untrusted input.
//! - `evict.rs`: the size bound, least recently used first.
//!
//! - `dir.rs`: reading and writing entries in the directory.
//! - `writer.rs`: the thread that writes them, off the compiling thread.
//! - `pack.rs`: a module's pack, copies of the entries its last run used in one
//!   file, read instead of their files when the module is loaded again.
//!
//! Entries are written to a temporary file and renamed into place, so a reader sees
//! a whole entry or none, and processes filling the same directory at once never
//! see each other's partial files. Every failure to read or write the cache is a
//! miss: the function is compiled as if there were no cache.

mod dir;
mod entry;
mod evict;
mod key;
mod pack;
mod writer;

pub(crate) use key::{Key, ModuleContext, Tier, key, pack_key, trampoline_key, validated_key};
pub(crate) use pack::{PACK_MIN_FUNCTIONS, Pack};

use crate::codec::Bounds;
use anyhow::{Context, Result};
use dir::Dir;
use lazuli_environ::CompiledFunction;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use writer::{Job, Writer};

/// Where the code cache lives and how large it may grow, for [`Cache::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// `None`: the user's cache directory ([`CacheConfig::user_directory`]).
    directory: Option<PathBuf>,
    max_bytes: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            directory: None,
            max_bytes: CacheConfig::DEFAULT_MAX_BYTES,
        }
    }
}

impl CacheConfig {
    /// The size bound of a cache unless [`CacheConfig::with_files_total_size_soft_limit`]
    /// says otherwise: 512 MiB.
    pub const DEFAULT_MAX_BYTES: u64 = 512 << 20;

    /// A cache in the user's cache directory ([`CacheConfig::user_directory`]),
    /// bounded to [`CacheConfig::DEFAULT_MAX_BYTES`].
    pub fn new() -> CacheConfig {
        CacheConfig::default()
    }

    /// Puts the cache in `directory` (created if missing).
    pub fn with_directory(&mut self, directory: impl Into<PathBuf>) -> &mut Self {
        self.directory = Some(directory.into());
        self
    }

    /// Bounds the cache to `bytes` of entries; beyond that the least recently used
    /// ones are removed.
    pub fn with_files_total_size_soft_limit(&mut self, bytes: u64) -> &mut Self {
        self.max_bytes = bytes;
        self
    }

    /// The cache's directory, if one was given.
    pub fn directory(&self) -> Option<&PathBuf> {
        self.directory.as_ref()
    }

    /// The size bound.
    pub fn files_total_size_soft_limit(&self) -> u64 {
        self.max_bytes
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
}

/// A code cache directory, checked and created, for [`crate::Config::cache`].
/// Each engine given it keeps one entry per function and tier there (see
/// `ARCHITECTURE.md`, "Code cache"); engines share entries through the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    directory: PathBuf,
    max_bytes: u64,
}

impl Cache {
    /// The cache `config` describes; fails if it names no directory and the
    /// user has none, or if the directory cannot be created.
    pub fn new(config: CacheConfig) -> Result<Cache> {
        let directory = match config.directory {
            Some(dir) => dir,
            None => CacheConfig::user_directory()
                .context("no cache directory: neither XDG_CACHE_HOME nor HOME is set")?,
        };
        std::fs::create_dir_all(directory.join("tmp"))
            .with_context(|| format!("cannot use `{}` as the code cache", directory.display()))?;
        Ok(Cache {
            directory,
            max_bytes: config.max_bytes,
        })
    }

    /// Wasmtime's constructor from a configuration file. Lazuli reads none:
    /// `None` (Wasmtime's default file) gives the default cache,
    /// [`CacheConfig::new`]'s; a file is refused with an error saying so.
    pub fn from_file(path: Option<&Path>) -> Result<Cache> {
        if let Some(path) = path {
            anyhow::bail!(
                "Lazuli reads no cache configuration file (`{}`): build a `CacheConfig` instead",
                path.display()
            );
        }
        Cache::new(CacheConfig::new())
    }

    /// The cache's directory.
    pub fn directory(&self) -> &PathBuf {
        &self.directory
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
    /// Entries handed to the writer (written unless the disk refuses).
    pub(crate) stored: AtomicU64,
}

/// An open cache directory, shared by an engine's modules. Reads happen on the
/// thread that asks; writes are handed to a thread of the cache's own, in order,
/// and finished when the cache (its engine) is dropped.
pub(crate) struct CodeCache {
    dir: Arc<Dir>,
    writer: Writer,
}

impl CodeCache {
    /// Opens the directory of `cache` (creating it if it went missing).
    pub(crate) fn open(cache: &Cache) -> Result<CodeCache> {
        let path = cache.directory();
        let cannot = || format!("cannot use `{}` as the code cache", path.display());
        std::fs::create_dir_all(path.join("tmp")).with_context(cannot)?;
        let secret = entry::secret(path).with_context(cannot)?;
        let dir = Dir::open(path, secret, cache.max_bytes).with_context(cannot)?;
        let dir = Arc::new(dir);
        Ok(CodeCache {
            writer: Writer::new(dir.clone()),
            dir,
        })
    }

    /// The function stored under `key`, if there is a whole, authentic entry for
    /// it whose contents fit `bounds`, in `pack` or else in its own file (which
    /// `pack` then records); anything else is a miss (counted as rejected in
    /// `counters` when a file was there).
    pub(crate) fn load(
        &self,
        key: &Key,
        bounds: &Bounds,
        counters: &CacheCounters,
        pack: Option<&Pack>,
    ) -> Option<Cached> {
        let packed = pack.and_then(|p| p.entry(key));
        if let Some(cached) = packed.and_then(|bytes| self.dir.decode(bytes, key, bounds)) {
            counters.hits.fetch_add(1, Ordering::Relaxed);
            return Some(cached);
        }
        let (found, cached) = self.dir.load(key, bounds);
        let counter = match (found, &cached) {
            (_, Some(_)) => &counters.hits,
            (true, None) => &counters.rejected,
            (false, None) => return None,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let (cached, bytes) = cached?;
        if let Some(pack) = pack {
            pack.record(*key, bytes);
        }
        Some(cached)
    }

    /// Whether there is an entry under `key` (not whether it is usable), in
    /// `pack` or in its own file.
    pub(crate) fn contains(&self, key: &Key, pack: Option<&Pack>) -> bool {
        pack.is_some_and(|p| p.contains(key)) || self.dir.contains(key)
    }

    /// The pack stored under `key` (`pack.rs`), empty if there is none.
    pub(crate) fn open_pack(&self, key: Key) -> Pack {
        Pack::new(key, self.dir.read(&key))
    }

    /// Writes `pack` in place of the file it was read from if it gained entries
    /// (once: later calls do nothing), after the writes handed to the writer
    /// before, and returns when they are all done: a process whose background
    /// compiles still hold its engine when it ends keeps what its run used.
    pub(crate) fn close_pack(&self, pack: &Pack) {
        if let Some(bytes) = pack.close(self.dir.secret()) {
            self.writer.send(Job::Write {
                key: pack.key,
                bytes,
            });
        }
        self.writer.flush();
    }

    /// Stores `func` under `key` (replacing any entry there); `body_start` is
    /// where the function's body starts in its module. Failures are ignored: the
    /// cache is an optimisation.
    pub(crate) fn store(
        &self,
        key: &Key,
        func: &CompiledFunction,
        body_start: u32,
        counters: &CacheCounters,
        pack: Option<&Pack>,
    ) {
        let bytes = entry::encode(func, body_start, 0, key, self.dir.secret());
        if let Some(pack) = pack {
            pack.record(*key, bytes.clone());
        }
        self.writer.send(Job::Write { key: *key, bytes });
        counters.stored.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks the first-tier entry under `key` (fitting `bounds`) as [`entry::TIERED`]:
    /// its function's optimised code is in the cache too. Done by the writer, after
    /// the writes handed to it before.
    pub(crate) fn mark_tiered(&self, key: &Key, bounds: &Bounds, pack: Option<&Pack>) {
        let bounds = *bounds;
        if let Some(pack) = pack {
            pack.record_tiered(*key, bounds);
        }
        self.writer.send(Job::MarkTiered { key: *key, bounds });
    }

    /// Whether a marker (an entry without code, see [`CodeCache::store_marker`])
    /// is stored under `key`.
    pub(crate) fn has_marker(&self, key: &Key) -> bool {
        let (_, cached) = self.dir.load(key, &Bounds::TRAMPOLINE);
        cached.is_some_and(|(c, _)| c.func.code.is_empty())
    }

    /// Stores a marker under `key`: an authenticated entry that holds no code and
    /// says only that something (a module's validity) was established.
    pub(crate) fn store_marker(&self, key: &Key) {
        let counters = CacheCounters::default();
        self.store(key, &CompiledFunction::default(), 0, &counters, None);
    }
}
