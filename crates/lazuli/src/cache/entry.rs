//! The file format of one cache entry, and the checks that make a file from the
//! cache directory safe to use. The directory is untrusted: a file may be
//! truncated, corrupted, left by another version, or edited.
//!
//! ```text
//! magic "LZCACHE\0" | format u32 | payload length u32 | key [32] | mac [32] | payload
//! ```
//!
//! The payload is a `u32` of flags ([`TIERED`]), then one function in
//! `codec.rs`'s encoding.
//!
//! The MAC is keyed BLAKE3 over the key and the payload under the cache's secret
//! (`DIR/key`, 32 random bytes made on first use, readable only by its owner): an
//! entry someone changed without that secret, or one stored under another key,
//! fails it. A payload that passes is still checked against the function it is
//! for (`Bounds`) before anything uses it, so that no entry can make the loader
//! write outside the code it relocates.

use super::Key;
use crate::codec::{self, Bounds, Reader};
use lazuli_environ::CompiledFunction;
use std::io::{Read as _, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"LZCACHE\0";
const FORMAT: u32 = 2;

/// Flag of a first-tier entry: the function's optimised code was stored too, so
/// that it is worth looking up (most functions never tier up, and a lookup that
/// finds nothing costs a failed `open`).
pub(crate) const TIERED: u32 = 1;
const HEADER: usize = 8 + 4 + 4 + 32 + 32;

/// The entry file for `func` (compiled from a body starting at `body_start`) with
/// `flags`.
pub(super) fn encode(
    func: &CompiledFunction,
    body_start: u32,
    flags: u32,
    key: &Key,
    secret: &[u8; 32],
) -> Vec<u8> {
    let mut payload = Vec::with_capacity(func.code.len() + 64);
    codec::put_u32(&mut payload, flags);
    codec::encode(&mut payload, func, body_start);
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&key.0);
    out.extend_from_slice(&mac(secret, key, &payload));
    out.extend_from_slice(&payload);
    out
}

/// The function in entry file `bytes`, and its flags, if it is whole, authentic,
/// stored under `key` and fits `bounds`; its Wasm offsets made absolute again.
pub(super) fn decode(
    bytes: &[u8],
    key: &Key,
    secret: &[u8; 32],
    bounds: &Bounds,
) -> Option<(CompiledFunction, u32)> {
    let (header, payload) = bytes.split_at_checked(HEADER)?;
    let mut r = Reader(header);
    let well_formed = r.take(8)? == MAGIC
        && r.u32()? == FORMAT
        && r.u32()? as usize == payload.len()
        && r.take(32)? == key.0;
    let authentic = well_formed && r.take(32)? == mac(secret, key, payload);
    if !authentic {
        return None;
    }
    let mut r = Reader(payload);
    let flags = r.u32()?;
    let func = codec::decode(&mut r, bounds).filter(|_| r.0.is_empty())?;
    Some((func, flags))
}

/// Entry file `bytes` (under `key`, fitting `bounds`) rewritten with the
/// [`TIERED`] flag, if it is a usable entry without it.
pub(super) fn with_tiered(
    bytes: &[u8],
    key: &Key,
    secret: &[u8; 32],
    bounds: &Bounds,
) -> Option<Vec<u8>> {
    let (func, flags) = decode(bytes, key, secret, bounds)?;
    (flags & TIERED == 0).then(|| encode(&func, bounds.body_start, flags | TIERED, key, secret))
}

/// The MAC of `key` then `payload` under `secret`: BLAKE3 in its keyed mode, a
/// pseudorandom function of the message for whoever lacks the key.
fn mac(secret: &[u8; 32], key: &Key, payload: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_keyed(secret);
    h.update(&key.0);
    h.update(payload);
    *h.finalize().as_bytes()
}

/// The cache's secret in `dir`, made (32 random bytes, mode 0600) if there is none.
/// A new one is published with a hard link, which fails rather than replace one
/// another process published first; a key file of the wrong size is replaced.
pub(super) fn secret(dir: &Path) -> std::io::Result<[u8; 32]> {
    let path = dir.join("key");
    if let Some(secret) = read_secret(&path) {
        return Ok(secret);
    }
    let mut secret = [0; 32];
    getrandom::fill(&mut secret).map_err(|e| std::io::Error::other(e.to_string()))?;
    let temp = super::dir::temp_path(dir, "key");
    write_private(&temp, &secret)?;
    let linked = std::fs::hard_link(&temp, &path);
    let result = match linked {
        Ok(()) => Ok(secret),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match read_secret(&path) {
            Some(theirs) => Ok(theirs),
            None => std::fs::rename(&temp, &path).map(|()| secret),
        },
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&temp);
    result
}

/// The secret in the key file at `path`, if it holds exactly 32 bytes (at most 33
/// are read, whatever its size).
fn read_secret(path: &Path) -> Option<[u8; 32]> {
    let mut bytes = Vec::with_capacity(33);
    let file = std::fs::File::open(path).ok()?;
    std::io::Read::take(file, 33).read_to_end(&mut bytes).ok()?;
    bytes.try_into().ok()
}

/// Creates `path` readable and writable by its owner only, holding `bytes`.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}
