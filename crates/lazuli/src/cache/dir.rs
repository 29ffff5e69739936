//! The cache directory: entries read with one `fstat` and one `read`, written to a
//! temporary file and renamed into place, their times renewed when used (the
//! eviction order), and when the size bound is due to be enforced.

use super::{Cached, Key, entry, evict};
use crate::codec::Bounds;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// An entry is touched (its time moved to now, for eviction) when it is used and
/// was last touched longer ago than this.
const TOUCH_AFTER: Duration = Duration::from_secs(600);

/// A process's first write enforces the bound if nobody did for this long.
const SWEEP_AFTER: Duration = Duration::from_secs(60);

/// The largest entry file read: anything longer is refused before a byte of it
/// is allocated (no function's code comes near it).
const MAX_ENTRY_BYTES: u64 = 256 << 20;

/// Names this process's temporary files (with its id): unique across engines.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

pub(super) struct Dir {
    path: PathBuf,
    /// The key entries are authenticated with (`DIR/key`).
    secret: [u8; 32],
    max_bytes: u64,
    /// Bytes written since the bound was last enforced.
    written: AtomicU64,
    /// Whether anything was written yet.
    written_once: AtomicBool,
}

impl Dir {
    /// The directory at `path`, whose `tmp` directory exists, with its 256
    /// entry directories made if they are not there.
    pub(super) fn open(path: &Path, secret: [u8; 32], max_bytes: u64) -> std::io::Result<Dir> {
        let bucket = |i: usize| path.join(format!("{i:02x}"));
        if !bucket(255).is_dir() {
            (0..256).try_for_each(|i| std::fs::create_dir_all(bucket(i)))?;
        }
        Ok(Dir {
            path: path.to_path_buf(),
            secret,
            max_bytes,
            written: AtomicU64::new(0),
            written_once: AtomicBool::new(false),
        })
    }

    pub(super) fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    fn entry_path(&self, key: &Key) -> PathBuf {
        let hex = key.hex();
        self.path.join(&hex[..2]).join(&hex[2..])
    }

    /// Whether a file is stored under `key`, and the function in it, with the
    /// file's bytes, if it is a whole, authentic entry that fits `bounds`.
    pub(super) fn load(&self, key: &Key, bounds: &Bounds) -> (bool, Option<(Cached, Vec<u8>)>) {
        let Ok(file) = File::open(self.entry_path(key)) else {
            return (false, None);
        };
        let cached = read_whole(&file).and_then(|(bytes, modified)| {
            let cached = self.decode(&bytes, key, bounds)?;
            touch(&file, modified);
            Some((cached, bytes))
        });
        (true, cached)
    }

    /// The function in entry file `bytes`, if it is a whole, authentic entry
    /// stored under `key` that fits `bounds`.
    pub(super) fn decode(&self, bytes: &[u8], key: &Key, bounds: &Bounds) -> Option<Cached> {
        let (func, flags) = entry::decode(bytes, key, &self.secret, bounds)?;
        let tiered = flags & entry::TIERED != 0;
        Some(Cached { func, tiered })
    }

    /// The bytes of the file stored under `key` (a pack), if there is one no
    /// larger than an entry may be; its time is renewed as an entry's is.
    pub(super) fn read(&self, key: &Key) -> Option<Vec<u8>> {
        let file = File::open(self.entry_path(key)).ok()?;
        let (bytes, modified) = read_whole(&file)?;
        touch(&file, modified);
        Some(bytes)
    }

    pub(super) fn contains(&self, key: &Key) -> bool {
        self.entry_path(key).is_file()
    }

    /// Writes the entry file `bytes` under `key`, then enforces the size bound if
    /// it is due.
    pub(super) fn write(&self, key: &Key, bytes: &[u8]) {
        let _ = self.write_file(key, bytes);
        let len = bytes.len() as u64;
        let written = self.written.fetch_add(len, Ordering::Relaxed) + len;
        let first = !self.written_once.swap(true, Ordering::Relaxed);
        if written >= self.max_bytes / 8 || (first && self.sweep_due()) {
            self.written.store(0, Ordering::Relaxed);
            let _ = evict::sweep(&self.path, self.max_bytes);
        }
    }

    /// Rewrites the first-tier entry under `key` (fitting `bounds`) with the
    /// [`entry::TIERED`] flag.
    pub(super) fn mark_tiered(&self, key: &Key, bounds: &Bounds) {
        let old = self.read(key);
        let flagged = old.and_then(|b| entry::with_tiered(&b, key, &self.secret, bounds));
        if let Some(bytes) = flagged {
            let _ = self.write_file(key, &bytes);
        }
    }

    /// Writes `bytes` to a temporary file and renames it to `key`'s path.
    fn write_file(&self, key: &Key, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.entry_path(key);
        let temp = temp_path(&self.path, "entry");
        let written = File::create(&temp).and_then(|mut f| f.write_all(bytes));
        let renamed = written.and_then(|()| std::fs::rename(&temp, &path));
        if renamed.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        renamed
    }

    /// Whether nobody enforced the bound for [`SWEEP_AFTER`]; marks it done if so.
    fn sweep_due(&self) -> bool {
        let marker = self.path.join("swept");
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
    static PID: OnceLock<u32> = OnceLock::new();
    let pid = PID.get_or_init(std::process::id);
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join("tmp").join(format!("{label}.{pid}.{n}"))
}

/// The contents of `file` and its modification time, read with one `fstat` and
/// one `read` for an entry (entries are never written in place, so the size
/// cannot change under the reader; a file that is shorter than its size said, or
/// longer than [`MAX_ENTRY_BYTES`], is refused).
fn read_whole(mut file: &File) -> Option<(Vec<u8>, Option<SystemTime>)> {
    let meta = file
        .metadata()
        .ok()
        .filter(|m| m.len() <= MAX_ENTRY_BYTES)?;
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
