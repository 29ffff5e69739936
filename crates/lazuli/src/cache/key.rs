//! What a cache entry is keyed by: everything that decides a function's code.
//!
//! - the engine: Lazuli's version and the executable it is linked into (so that a
//!   rebuild never reuses an older build's code), the enabled Wasm features;
//! - the compiler: its target, every Cranelift flag (host CPU features among them)
//!   and its options (`Compiler::fingerprint`), which also tells the tiers apart;
//! - the module context the code depends on: every section but the code, data and
//!   custom sections (types, imports, function types, tables, memories, globals,
//!   exports, elements: they decide the VMContext layout and what each index
//!   means), hashed once per module;
//! - the function: its index among the defined ones (tier-up counters address its
//!   dispatch slot), its body's bytes, and the loop of an OSR entry.
//!
//! The code itself holds nothing engine-wide or position-dependent: signature ids
//! are read from the VMContext, calls go through slots or relocations applied at
//! publish, and Wasm offsets are stored relative to the body.

use blake3::Hasher;
use lazuli_cranelift::Compiler;
use wasmparser::Parser;

/// A BLAKE3 digest naming one entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key(pub(super) [u8; 32]);

impl Key {
    pub(super) fn hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let digits = self.0.iter().flat_map(|b| [b >> 4, b & 15]);
        digits.map(|d| char::from(DIGITS[usize::from(d)])).collect()
    }
}

/// The digest of one compiler of one engine: its part of every key.
#[derive(Clone, Copy)]
pub(crate) struct Tier([u8; 32]);

impl Tier {
    /// The tier of `compiler` in an engine with Wasm `features` (their `Debug`).
    pub(crate) fn new(compiler: &Compiler, features: &str) -> Tier {
        let mut h = Hasher::new();
        h.update(b"lazuli code cache 1\0");
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        h.update(&[0]);
        h.update(executable_identity().as_bytes());
        h.update(&[0]);
        h.update(features.as_bytes());
        h.update(&[0]);
        h.update(compiler.fingerprint().as_bytes());
        Tier(*h.finalize().as_bytes())
    }
}

/// The executable's path, size and modification time: a rebuilt binary (whose
/// code generator may differ under the same version) gets keys of its own.
fn executable_identity() -> String {
    let exe = std::env::current_exe().ok();
    let meta = exe.as_ref().and_then(|p| std::fs::metadata(p).ok());
    let modified = meta
        .as_ref()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    format!("{exe:?} {:?} {modified:?}", meta.map(|m| m.len()))
}

/// The digest of a module's sections that code depends on.
#[derive(Clone, Copy)]
pub(crate) struct ModuleContext([u8; 32]);

impl ModuleContext {
    /// Hashes the sections of the (valid) module `bytes` other than code, data and
    /// custom sections, each with its id.
    pub(crate) fn new(bytes: &[u8]) -> ModuleContext {
        let mut h = Hasher::new();
        for payload in Parser::new(0).parse_all(bytes) {
            let Ok(payload) = payload else { break };
            let Some((id, range)) = payload.as_section() else {
                continue;
            };
            let range = range.start as usize..range.end as usize;
            if !matches!(id, 0 | 10 | 11)
                && let Some(section) = bytes.get(range)
            {
                h.update(&[id]);
                h.update(&(section.len() as u64).to_le_bytes());
                h.update(section);
            }
        }
        ModuleContext(*h.finalize().as_bytes())
    }
}

/// The key of defined function `defined`, whose body is `body`, compiled by
/// `tier` in a module with `context` (as an OSR entry at `osr_loop` if given).
pub(crate) fn key(
    tier: &Tier,
    context: &ModuleContext,
    defined: u32,
    osr_loop: Option<u32>,
    body: &[u8],
) -> Key {
    let mut h = Hasher::new();
    h.update(&tier.0);
    h.update(&context.0);
    h.update(&defined.to_le_bytes());
    h.update(&osr_loop.map_or(u64::MAX, u64::from).to_le_bytes());
    h.update(&(body.len() as u64).to_le_bytes());
    h.update(body);
    Key(*h.finalize().as_bytes())
}

/// The key of the trampoline of `kind` for the function type `ty` (its `Debug`),
/// compiled by `tier`.
pub(crate) fn trampoline_key(tier: &Tier, kind: &str, ty: &impl std::fmt::Debug) -> Key {
    let mut h = Hasher::new();
    h.update(&tier.0);
    h.update(b"trampoline\0");
    h.update(kind.as_bytes());
    h.update(&[0]);
    h.update(format!("{ty:?}").as_bytes());
    Key(*h.finalize().as_bytes())
}

/// The key of the pack (`pack.rs`) of the module whose validity marker is under
/// `validated` ([`validated_key`], a digest of the module's bytes and the engine).
pub(crate) fn pack_key(validated: &Key) -> Key {
    let mut h = Hasher::new();
    h.update(b"pack\0");
    h.update(&validated.0);
    Key(*h.finalize().as_bytes())
}

/// The key of the marker saying that the module `bytes` is valid under the Wasm
/// features in `tier` (BLAKE3 hashes a 20 MB module in a few milliseconds, on the
/// calling thread: waking the thread pool for it cost more than it saved).
pub(crate) fn validated_key(tier: &Tier, bytes: &[u8]) -> Key {
    let mut h = Hasher::new();
    h.update(&tier.0);
    h.update(b"validated\0");
    h.update(bytes);
    Key(*h.finalize().as_bytes())
}
