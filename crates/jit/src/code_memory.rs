//! Copying compiled code into executable pages.

use lazuli_environ::{CompiledFunction, RelocKind, Relocation};
use std::ops::Range;
use std::sync::{Mutex, PoisonError};

/// Why code could not be made executable.
#[derive(Debug)]
pub enum JitError {
    /// The kernel refused to map or protect pages (typically `ENOMEM`: the process
    /// ran out of address space or of mappings). The same request may succeed once
    /// the pressure is gone.
    System(String),
    /// The code cannot be placed as asked (a relocation without a target or out of
    /// range): the same request always fails.
    Placement(String),
}

impl JitError {
    /// Whether retrying the same publish may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, JitError::System(_))
    }
}

impl std::fmt::Display for JitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JitError::System(message) | JitError::Placement(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for JitError {}

/// Where a relocation's callee lives.
#[derive(Debug, Clone, Copy)]
pub enum RelocTarget {
    /// The function at this position of the batch being published.
    Batch(usize),
    /// An absolute address outside the batch.
    Address(usize),
}

/// Functions alignment inside code memory.
const FUNCTION_ALIGN: usize = 16;

/// Address space reserved at a time; batches are carved out of it page by page.
const CHUNK_SIZE: usize = 1 << 20;

/// Executable memory for one owner (a module, or an engine's trampolines). Code is
/// added in batches: each batch gets fresh pages, which are written while no one can
/// execute them and then made read+execute for good — pages are never writable and
/// executable at once, and code already running is never touched. Carving batches
/// out of large reservations keeps the number of kernel mappings small however many
/// functions are compiled one at a time. Everything is unmapped on drop; whoever
/// registered the code must unregister it first.
#[derive(Default)]
pub struct CodeMemory {
    chunks: Mutex<Vec<Chunk>>,
}

/// One reservation and how much of it is used.
struct Chunk {
    alloc: region::Allocation,
    used: usize,
}

// SAFETY: the chunks' pages are only written under the mutex, before they become
// executable; after that they are immutable and sharing their addresses between
// threads is what they are for.
unsafe impl Send for CodeMemory {}
// SAFETY: as above.
unsafe impl Sync for CodeMemory {}

/// The address ranges of a published batch.
#[derive(Debug, Clone)]
pub struct Batch {
    /// All of the batch's code.
    pub range: Range<usize>,
    /// Each function's code, in the order given to [`CodeMemory::publish`].
    pub functions: Vec<Range<usize>>,
}

impl CodeMemory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Copies `functions` into fresh pages, applies their relocations (callees found
    /// through `resolve`) and makes the pages executable.
    pub fn publish(
        &self,
        functions: &[&CompiledFunction],
        resolve: impl Fn(u32) -> Option<RelocTarget>,
    ) -> Result<Batch, JitError> {
        self.publish_each(functions, |_, func| resolve(func))
    }

    /// As [`publish`](Self::publish), with relocations resolved per function:
    /// `resolve(i, func)` gives the target of a relocation to `func` inside the `i`th
    /// function of the batch (so that copies of one template can each get their own).
    pub fn publish_each(
        &self,
        functions: &[&CompiledFunction],
        resolve: impl Fn(usize, u32) -> Option<RelocTarget>,
    ) -> Result<Batch, JitError> {
        let mut offsets = Vec::with_capacity(functions.len());
        let mut size = 0usize;
        for f in functions {
            size = size.next_multiple_of(FUNCTION_ALIGN);
            offsets.push(size..size + f.code.len());
            size += f.code.len();
        }
        let len = size.max(1).next_multiple_of(region::page::size());
        let mut chunks = self.chunks.lock().unwrap_or_else(PoisonError::into_inner);
        let base = reserve(&mut chunks, len)?;
        // SAFETY: `reserve` handed out `len` bytes of inaccessible pages that no one
        // else refers to; they become writable here and executable below.
        unsafe { region::protect(base as *const u8, len, region::Protection::READ_WRITE) }
            .map_err(|e| JitError::System(format!("cannot make code memory writable: {e}")))?;
        {
            // SAFETY: the pages were just made writable and only this batch uses them.
            let bytes = unsafe { std::slice::from_raw_parts_mut(base as *mut u8, size) };
            for (i, (f, range)) in functions.iter().zip(&offsets).enumerate() {
                bytes[range.clone()].copy_from_slice(&f.code);
                for reloc in &f.relocs {
                    let target = match resolve(i, reloc.func) {
                        Some(RelocTarget::Batch(i)) => base + offsets[i].start,
                        Some(RelocTarget::Address(a)) => a,
                        None => {
                            return Err(JitError::Placement(format!(
                                "no address for relocation to function {}",
                                reloc.func
                            )));
                        }
                    };
                    apply(bytes, range.start, reloc, base, target)?;
                }
            }
        }
        // SAFETY: the same pages; after this call they are never written again.
        unsafe { region::protect(base as *const u8, len, region::Protection::READ_EXECUTE) }
            .map_err(|e| JitError::System(format!("cannot make code executable: {e}")))?;
        flush_icache(base, size);
        Ok(Batch {
            range: base..base + size,
            functions: offsets
                .into_iter()
                .map(|r| base + r.start..base + r.end)
                .collect(),
        })
    }
}

/// The address of `len` fresh bytes (a multiple of the page size), taken from the
/// last chunk or from a new one.
fn reserve(chunks: &mut Vec<Chunk>, len: usize) -> Result<usize, JitError> {
    if chunks.last().is_none_or(|c| c.alloc.len() - c.used < len) {
        let alloc = region::alloc(len.max(CHUNK_SIZE), region::Protection::NONE)
            .map_err(|e| JitError::System(format!("cannot map code memory: {e}")))?;
        chunks.push(Chunk { alloc, used: 0 });
    }
    let Some(chunk) = chunks.last_mut() else {
        unreachable!("a chunk was pushed above if there was none")
    };
    let start = chunk.alloc.as_ptr::<u8>() as usize + chunk.used;
    chunk.used += len;
    Ok(start)
}

/// Patches one relocation of the function at `func_start` within `bytes`.
fn apply(
    bytes: &mut [u8],
    func_start: usize,
    reloc: &Relocation,
    base: usize,
    target: usize,
) -> Result<(), JitError> {
    let at = func_start + reloc.offset as usize;
    let site = base + at;
    let value = (target as i64).wrapping_add(reloc.addend);
    match reloc.kind {
        RelocKind::X86CallPcRel4 => {
            let delta = value.wrapping_sub(site as i64);
            let delta = i32::try_from(delta).map_err(|_| {
                JitError::Placement(format!("call displacement {delta:#x} out of range"))
            })?;
            bytes[at..at + 4].copy_from_slice(&delta.to_le_bytes());
        }
        RelocKind::Arm64Call => {
            let delta = value.wrapping_sub(site as i64);
            if delta % 4 != 0 || !(-(1 << 27)..(1 << 27)).contains(&delta) {
                return Err(JitError::Placement(format!(
                    "branch displacement {delta:#x} out of range"
                )));
            }
            let mut insn =
                u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
            insn = (insn & !0x03ff_ffff) | (((delta >> 2) as u32) & 0x03ff_ffff);
            bytes[at..at + 4].copy_from_slice(&insn.to_le_bytes());
        }
        RelocKind::Abs8 => bytes[at..at + 8].copy_from_slice(&value.to_le_bytes()),
    }
    Ok(())
}

/// Makes freshly written code visible to instruction fetch.
#[cfg(target_arch = "aarch64")]
fn flush_icache(start: usize, len: usize) {
    unsafe extern "C" {
        fn __clear_cache(start: *mut u8, end: *mut u8);
    }
    // SAFETY: the range is mapped code memory owned by the caller.
    unsafe { __clear_cache(start as *mut u8, (start + len) as *mut u8) }
}

/// x86-64 keeps instruction fetch coherent with stores.
#[cfg(not(target_arch = "aarch64"))]
fn flush_icache(_start: usize, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relocation_without_a_target_is_a_deterministic_error() {
        let func = CompiledFunction {
            code: vec![0xe8, 0, 0, 0, 0, 0xc3],
            relocs: vec![Relocation {
                offset: 1,
                kind: RelocKind::X86CallPcRel4,
                func: 7,
                addend: -4,
            }],
            ..CompiledFunction::default()
        };
        let err = CodeMemory::new().publish(&[&func], |_| None).unwrap_err();
        assert!(matches!(err, JitError::Placement(_)), "{err:?}");
        assert!(!err.is_transient());
    }

    /// Copies of one template get the relocation target of their own position.
    #[test]
    fn publish_each_resolves_relocations_per_function() {
        let template = CompiledFunction {
            code: vec![0; 8],
            relocs: vec![Relocation {
                offset: 0,
                kind: RelocKind::Abs8,
                func: 0,
                addend: 1,
            }],
            ..CompiledFunction::default()
        };
        let code = CodeMemory::new();
        let batch = code
            .publish_each(&[&template; 3], |i, _| Some(RelocTarget::Address(100 * i)))
            .unwrap();
        for (i, range) in batch.functions.iter().enumerate() {
            // SAFETY: the batch's pages stay mapped readable while `code` lives,
            // and `range` is one function's 8 bytes in them.
            let word = unsafe { (range.start as *const u64).read_unaligned() };
            assert_eq!(word, 100 * i as u64 + 1);
        }
    }
}
