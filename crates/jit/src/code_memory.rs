//! Copying compiled code into executable pages.

use lazuli_environ::{CompiledFunction, RelocKind, Relocation};
use std::ops::Range;

/// Why code could not be made executable.
#[derive(Debug)]
pub struct JitError(pub String);

impl std::fmt::Display for JitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
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

/// A block of read+execute pages holding a batch of functions. The pages are
/// unmapped when it is dropped; whoever registered them must unregister first.
pub struct CodeMemory {
    alloc: region::Allocation,
    ranges: Vec<Range<usize>>,
}

// SAFETY: the pages are immutable (read+execute) after construction; sharing their
// addresses between threads is what they are for.
unsafe impl Send for CodeMemory {}
// SAFETY: as above; no interior mutability.
unsafe impl Sync for CodeMemory {}

impl CodeMemory {
    /// Copies `functions` into fresh pages, applies their relocations (callees found
    /// through `resolve`) and makes the pages executable.
    pub fn publish(
        functions: &[&CompiledFunction],
        resolve: impl Fn(u32) -> Option<RelocTarget>,
    ) -> Result<CodeMemory, JitError> {
        let mut offsets = Vec::with_capacity(functions.len());
        let mut size = 0usize;
        for f in functions {
            size = size.next_multiple_of(FUNCTION_ALIGN);
            offsets.push(size..size + f.code.len());
            size += f.code.len();
        }
        let mut alloc = region::alloc(size.max(1), region::Protection::READ_WRITE)
            .map_err(|e| JitError(format!("cannot map code memory: {e}")))?;
        let base = alloc.as_mut_ptr::<u8>() as usize;
        {
            // SAFETY: `alloc` is a fresh read-write mapping of at least `size` bytes
            // and nothing else refers to it yet.
            let bytes = unsafe { std::slice::from_raw_parts_mut(base as *mut u8, size) };
            for (f, range) in functions.iter().zip(&offsets) {
                bytes[range.clone()].copy_from_slice(&f.code);
                for reloc in &f.relocs {
                    let target = match resolve(reloc.func) {
                        Some(RelocTarget::Batch(i)) => base + offsets[i].start,
                        Some(RelocTarget::Address(a)) => a,
                        None => {
                            return Err(JitError(format!(
                                "no address for relocation to function {}",
                                reloc.func
                            )));
                        }
                    };
                    apply(bytes, range.start, reloc, base, target)?;
                }
            }
        }
        // SAFETY: the range is exactly the mapping made above; after this call the
        // pages are never written again.
        unsafe {
            region::protect(
                base as *const u8,
                size.max(1),
                region::Protection::READ_EXECUTE,
            )
        }
        .map_err(|e| JitError(format!("cannot make code executable: {e}")))?;
        flush_icache(base, size);
        let ranges = offsets
            .into_iter()
            .map(|r| base + r.start..base + r.end)
            .collect();
        Ok(CodeMemory { alloc, ranges })
    }

    /// Absolute address range of the `i`th function of the batch.
    pub fn function(&self, i: usize) -> Range<usize> {
        self.ranges[i].clone()
    }

    /// Address range of all the code.
    pub fn range(&self) -> Range<usize> {
        let start = self.alloc.as_ptr::<u8>() as usize;
        start..start + self.alloc.len()
    }
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
            let delta = i32::try_from(delta)
                .map_err(|_| JitError(format!("call displacement {delta:#x} out of range")))?;
            bytes[at..at + 4].copy_from_slice(&delta.to_le_bytes());
        }
        RelocKind::Arm64Call => {
            let delta = value.wrapping_sub(site as i64);
            if delta % 4 != 0 || !(-(1 << 27)..(1 << 27)).contains(&delta) {
                return Err(JitError(format!(
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
