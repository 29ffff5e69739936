//! A module's pack: copies of the entries one run of a module used, in one file,
//! so that the next run of the same module reads one file instead of one per
//! function (python3.11.wasm uses about 2,400).
//!
//! The pack is stored like an entry, under a key of its own made from the module's
//! bytes ([`super::pack_key`]), and is as untrusted as any entry: it is only an
//! index. Each entry in it is checked by `entry::decode` exactly as if it had been
//! read from its own file, and a record cut short ends the pack. A module of at
//! least [`PACK_MIN_FUNCTIONS`] functions opens its pack when it is loaded, records
//! what it reads from entry files and what it stores, and hands the pack to the
//! writer when it is dropped; only a pack that gained something is written again.
//!
//! File: [`MAGIC`], then records of a key (32 bytes), a length (u32, little
//! endian) and that many bytes of an entry file.

use super::{Key, entry};
use crate::codec::Bounds;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

const MAGIC: &[u8; 8] = b"LZPACK01";

/// Modules with fewer defined functions get no pack: reading their few entry
/// files costs less than writing a pack after every run that adds to it.
pub(crate) const PACK_MIN_FUNCTIONS: u32 = 64;

/// A module's pack as read at its first use of the cache, and what the module
/// used since that the file does not hold.
pub(crate) struct Pack {
    pub(super) key: Key,
    /// The file as read (empty when there was none or it was not a pack).
    bytes: Vec<u8>,
    /// Where each entry lies in `bytes`.
    index: HashMap<Key, Range<usize>>,
    fresh: Mutex<Fresh>,
    /// Whether the pack was written back (it is, at most once).
    closed: AtomicBool,
}

/// What a module used that its pack file does not hold in that form.
#[derive(Default)]
struct Fresh {
    /// Entry files read or written this run, by key.
    entries: HashMap<Key, Vec<u8>>,
    /// First-tier entries whose function's optimised code was stored since: they
    /// are written with [`entry::TIERED`] set.
    tiered: Vec<(Key, Bounds)>,
}

impl Pack {
    /// The pack stored under `key`, whose file holds `bytes` (`None` when there is
    /// no such file): every whole record, up to the first that is not.
    pub(super) fn new(key: Key, bytes: Option<Vec<u8>>) -> Pack {
        let bytes = bytes.filter(|b| b.starts_with(MAGIC)).unwrap_or_default();
        let mut index = HashMap::new();
        let mut at = MAGIC.len();
        while let Some((entry_key, range)) = record(&bytes, at) {
            at = range.end;
            index.insert(entry_key, range);
        }
        Pack {
            key,
            bytes,
            index,
            fresh: Mutex::default(),
            closed: AtomicBool::new(false),
        }
    }

    /// The entry file stored under `key` in the pack file, if it has one.
    pub(super) fn entry(&self, key: &Key) -> Option<&[u8]> {
        self.index.get(key).map(|range| &self.bytes[range.clone()])
    }

    /// Whether the pack file held entries when it was read: the module ran with
    /// this cache before.
    pub(crate) fn was_filled(&self) -> bool {
        !self.index.is_empty()
    }

    /// Whether the pack file holds an entry under `key` or one was recorded.
    pub(super) fn contains(&self, key: &Key) -> bool {
        self.index.contains_key(key) || self.fresh().entries.contains_key(key)
    }

    /// Records entry file `bytes` under `key`, read from its file or just
    /// stored, for the pack written when the module is dropped.
    pub(super) fn record(&self, key: Key, bytes: Vec<u8>) {
        self.fresh().entries.insert(key, bytes);
    }

    /// Records that the first-tier entry under `key` (fitting `bounds`) is to be
    /// flagged [`entry::TIERED`] in the pack written next.
    pub(super) fn record_tiered(&self, key: Key, bounds: Bounds) {
        self.fresh().tiered.push((key, bounds));
    }

    fn fresh(&self) -> std::sync::MutexGuard<'_, Fresh> {
        self.fresh.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The pack file to write in place of the one read, holding every entry the
    /// old one held and every one recorded (those replacing the old), with the
    /// recorded TIERED flags set; `None` when nothing was recorded, or when this
    /// was asked before (what is recorded after that is not written).
    pub(super) fn close(&self, secret: &[u8; 32]) -> Option<Vec<u8>> {
        if self.closed.swap(true, Ordering::Relaxed) {
            return None;
        }
        let Fresh {
            mut entries,
            tiered,
        } = std::mem::take(&mut *self.fresh());
        if entries.is_empty() && tiered.is_empty() {
            return None;
        }
        for (key, bounds) in tiered {
            let old = entries.get(&key).map(Vec::as_slice);
            let old = old.or_else(|| self.index.get(&key).map(|r| &self.bytes[r.clone()]));
            if let Some(flagged) = old.and_then(|b| entry::with_tiered(b, &key, secret, &bounds)) {
                entries.insert(key, flagged);
            }
        }
        let mut out = MAGIC.to_vec();
        for (key, range) in &self.index {
            if !entries.contains_key(key) {
                put_record(&mut out, key, &self.bytes[range.clone()]);
            }
        }
        for (key, bytes) in &entries {
            put_record(&mut out, key, bytes);
        }
        Some(out)
    }
}

/// The record at `at` of pack file `bytes`: its key and where its entry lies.
fn record(bytes: &[u8], at: usize) -> Option<(Key, Range<usize>)> {
    let header = bytes.get(at..at.checked_add(36)?)?;
    let (key, len) = header.split_at(32);
    let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
    let start = at + 36;
    let end = start.checked_add(len).filter(|&end| end <= bytes.len())?;
    Some((Key(key.try_into().ok()?), start..end))
}

fn put_record(out: &mut Vec<u8>, key: &Key, entry: &[u8]) {
    out.extend_from_slice(&key.0);
    out.extend_from_slice(&(entry.len() as u32).to_le_bytes());
    out.extend_from_slice(entry);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        Key([n; 32])
    }

    #[test]
    fn a_written_pack_reads_back_with_its_old_and_its_recorded_entries() {
        let secret = [7; 32];
        let first = Pack::new(key(0), None);
        first.record(key(1), b"one".to_vec());
        first.record(key(2), b"two".to_vec());
        let file = first.close(&secret).unwrap();
        let second = Pack::new(key(0), Some(file));
        assert_eq!(second.entry(&key(1)), Some(&b"one"[..]));
        second.record(key(2), b"TWO".to_vec());
        second.record(key(3), b"three".to_vec());
        let third = Pack::new(key(0), Some(second.close(&secret).unwrap()));
        assert_eq!(third.entry(&key(1)), Some(&b"one"[..]));
        assert_eq!(third.entry(&key(2)), Some(&b"TWO"[..]));
        assert_eq!(third.entry(&key(3)), Some(&b"three"[..]));
        assert!(third.contains(&key(3)) && !third.contains(&key(4)));
    }

    #[test]
    fn a_pack_that_gained_nothing_is_not_written_again() {
        let file = {
            let pack = Pack::new(key(0), None);
            pack.record(key(1), b"one".to_vec());
            pack.close(&[0; 32]).unwrap()
        };
        assert!(Pack::new(key(0), Some(file)).close(&[0; 32]).is_none());
    }

    #[test]
    fn a_pack_is_written_back_at_most_once() {
        let pack = Pack::new(key(0), None);
        pack.record(key(1), b"one".to_vec());
        assert!(pack.close(&[0; 32]).is_some());
        pack.record(key(2), b"two".to_vec());
        assert!(pack.close(&[0; 32]).is_none());
    }

    #[test]
    fn a_cut_or_foreign_pack_file_keeps_only_its_whole_records() {
        let pack = Pack::new(key(0), None);
        pack.record(key(1), vec![1; 100]);
        let mut file = pack.close(&[0; 32]).unwrap();
        file.extend_from_slice(&key(2).0);
        file.extend_from_slice(&u32::MAX.to_le_bytes());
        file.push(0);
        let cut = Pack::new(key(0), Some(file.clone()));
        assert!(cut.entry(&key(1)).is_some() && cut.entry(&key(2)).is_none());
        for len in 0..file.len() {
            let _ = Pack::new(key(0), Some(file[..len].to_vec()));
        }
        let foreign = Pack::new(key(0), Some(b"not a pack at all".to_vec()));
        assert!(foreign.entry(&key(1)).is_none());
    }
}
