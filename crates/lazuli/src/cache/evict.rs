//! The cache's size bound: when the entries add up to more than the bound, the
//! least recently used (by modification time, which a hit moves forward) are
//! removed until they fit in nine tenths of it. Temporary files left by a
//! process that died while writing are removed after an hour.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const STALE_TEMP: Duration = Duration::from_secs(3600);

/// Enforces `max_bytes` on the cache in `dir`.
pub(super) fn sweep(dir: &Path, max_bytes: u64) -> std::io::Result<()> {
    remove_stale_temps(&dir.join("tmp"));
    let mut entries = entries(dir)?;
    let mut total: u64 = entries.iter().map(|e| e.1).sum();
    if total <= max_bytes {
        return Ok(());
    }
    entries.sort_by_key(|e| e.2);
    let target = max_bytes - max_bytes / 10;
    for (path, len, _) in entries {
        if total <= target {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
        }
    }
    Ok(())
}

/// Every entry file (in the two-hex-digit directories): path, size, time.
fn entries(dir: &Path) -> std::io::Result<Vec<(PathBuf, u64, SystemTime)>> {
    let mut found = Vec::new();
    for sub in std::fs::read_dir(dir)?.flatten() {
        let name = sub.file_name();
        let is_bucket = name.len() == 2 && name.to_str().is_some_and(is_hex);
        if !is_bucket {
            continue;
        }
        let Ok(files) = std::fs::read_dir(sub.path()) else {
            continue;
        };
        for file in files.flatten() {
            if let Ok(meta) = file.metadata()
                && meta.is_file()
            {
                let time = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                found.push((file.path(), meta.len(), time));
            }
        }
    }
    Ok(found)
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn remove_stale_temps(tmp: &Path) {
    let Ok(files) = std::fs::read_dir(tmp) else {
        return;
    };
    let now = SystemTime::now();
    for file in files.flatten() {
        let old = file
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age >= STALE_TEMP);
        if old {
            let _ = std::fs::remove_file(file.path());
        }
    }
}
