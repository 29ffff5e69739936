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

/// Address space reserved at a time; batches are carved out of it.
const CHUNK_SIZE: usize = 1 << 20;

/// At most this many bytes of code form one *run*: the pages a batch that shares a
/// page with published code re-publishes as a whole (see [`CodeMemory`]).
const RUN_LIMIT: usize = 64 * 1024;

/// Executable memory for one owner (a module, or an engine's trampolines). Code is
/// added in batches, packed one after the other (16-byte aligned) into large
/// reservations, so that a small function compiled alone does not take a page of
/// its own. Pages are never writable and executable at once, and no writable view
/// of executable memory ever exists:
///
/// - A batch that starts on a fresh page is written in place while its pages are
///   inaccessible to everyone else, then made read+execute.
/// - A batch that starts inside a page already holding published code (which may
///   be running on other threads) is written, together with a copy of the current
///   *run* — the published pages since the run started, at most [`RUN_LIMIT`]
///   bytes — into a fresh private read+write mapping, which is then made
///   read+execute and moved over the run with `mremap` in one step. Code already
///   published keeps its addresses and bytes: a thread executing it sees either the
///   old pages or their identical copies (a fault in between waits for the move).
///   Each run is one kernel mapping, so the number of mappings grows with the code
///   size divided by [`RUN_LIMIT`], not with the number of batches.
///
/// Everything is unmapped on drop; whoever registered the code must unregister it
/// first.
#[derive(Default)]
pub struct CodeMemory {
    chunks: Mutex<Vec<Chunk>>,
}

/// One reservation and how much of it is used.
struct Chunk {
    alloc: region::Allocation,
    /// Bytes from the start holding published code (then padding up to 16 bytes).
    used: usize,
    /// Where the current run starts: a page boundary at or below `used`.
    run_start: usize,
}

impl Chunk {
    fn base(&self) -> usize {
        self.alloc.as_ptr::<u8>() as usize
    }
}

// SAFETY: the chunks' pages are only written under the mutex, before they become
// executable; after that their bytes never change and sharing their addresses
// between threads is what they are for.
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

/// Where a batch goes in its chunk.
struct Placement {
    /// Offset of the batch in the chunk.
    start: usize,
    /// Offset of the first page written: `start` itself if that is a fresh page,
    /// else the start of the run the batch joins.
    written: usize,
}

impl CodeMemory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Copies `functions` into code memory, applies their relocations (callees
    /// found through `resolve`) and makes them executable.
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
        // Every batch takes room, so that no two batches start at the same address.
        let size = size.max(1);
        let mut chunks = self.chunks.lock().unwrap_or_else(PoisonError::into_inner);
        let place = place(&mut chunks, size)?;
        let Some(chunk) = chunks.last_mut() else {
            unreachable!("`place` leaves the chunk it chose last")
        };
        let start = chunk.base() + place.start;
        let write = |bytes: &mut [u8], bytes_at: usize| {
            for (i, (f, range)) in functions.iter().zip(&offsets).enumerate() {
                let at = start + range.start - bytes_at;
                bytes[at..at + f.code.len()].copy_from_slice(&f.code);
                for reloc in &f.relocs {
                    let target = match resolve(i, reloc.func) {
                        Some(RelocTarget::Batch(j)) => start + offsets[j].start,
                        Some(RelocTarget::Address(a)) => a,
                        None => {
                            return Err(JitError::Placement(format!(
                                "no address for relocation to function {}",
                                reloc.func
                            )));
                        }
                    };
                    apply(bytes, at, reloc, bytes_at, target)?;
                }
            }
            Ok(())
        };
        let end = (place.start + size).next_multiple_of(region::page::size());
        let pages = chunk.base() + place.written..chunk.base() + end;
        if place.written == place.start {
            write_fresh_pages(pages, write)?;
            chunk.run_start = place.start;
        } else {
            // SAFETY: `pages` is the current run of this chunk plus fresh pages
            // after it, all inside the reservation, and the mutex is held.
            unsafe { rewrite_run(pages, start, write)? };
        }
        chunk.used = (place.start + size).next_multiple_of(FUNCTION_ALIGN);
        Ok(Batch {
            range: start..start + size,
            functions: offsets
                .into_iter()
                .map(|r| start + r.start..start + r.end)
                .collect(),
        })
    }

    /// Bytes of pages holding published code (what the code costs in memory).
    pub fn committed_bytes(&self) -> usize {
        let chunks = self.chunks.lock().unwrap_or_else(PoisonError::into_inner);
        chunks
            .iter()
            .map(|c| c.used.next_multiple_of(region::page::size()))
            .sum()
    }
}

/// Chooses where `size` bytes go: after the code of the last chunk, joining its run
/// if the batch starts inside a page in use and the run stays within
/// [`RUN_LIMIT`], else from the next page boundary, else in a new chunk (made the
/// last one).
fn place(chunks: &mut Vec<Chunk>, size: usize) -> Result<Placement, JitError> {
    let page = region::page::size();
    if let Some(c) = chunks.last() {
        let fits = |start: usize| start + size <= c.alloc.len();
        let shares_page = !c.used.is_multiple_of(page);
        if shares_page && c.used + size - c.run_start <= RUN_LIMIT && fits(c.used) {
            return Ok(Placement {
                start: c.used,
                written: c.run_start,
            });
        }
        let fresh = c.used.next_multiple_of(page);
        if fits(fresh) {
            return Ok(Placement {
                start: fresh,
                written: fresh,
            });
        }
    }
    let len = size.next_multiple_of(page).max(CHUNK_SIZE);
    let alloc = region::alloc(len, region::Protection::NONE)
        .map_err(|e| JitError::System(format!("cannot map code memory: {e}")))?;
    chunks.push(Chunk {
        alloc,
        used: 0,
        run_start: 0,
    });
    Ok(Placement {
        start: 0,
        written: 0,
    })
}

/// Writes a batch into `pages`, inaccessible pages of a reservation that no one
/// else refers to, through `write(bytes, address of bytes[0])`, then makes them
/// read+execute for good.
fn write_fresh_pages(
    pages: Range<usize>,
    write: impl FnOnce(&mut [u8], usize) -> Result<(), JitError>,
) -> Result<(), JitError> {
    let len = pages.len();
    // SAFETY: per the contract, the pages are ours alone; they become writable here
    // and executable below.
    unsafe {
        region::protect(
            pages.start as *const u8,
            len,
            region::Protection::READ_WRITE,
        )
    }
    .map_err(|e| JitError::System(format!("cannot make code memory writable: {e}")))?;
    // SAFETY: the pages were just made writable and only this batch uses them.
    let bytes = unsafe { std::slice::from_raw_parts_mut(pages.start as *mut u8, len) };
    write(bytes, pages.start)?;
    // SAFETY: the same pages; after this call they are never written again.
    unsafe {
        region::protect(
            pages.start as *const u8,
            len,
            region::Protection::READ_EXECUTE,
        )
    }
    .map_err(|e| JitError::System(format!("cannot make code executable: {e}")))?;
    flush_icache(pages.start, len);
    Ok(())
}

/// Re-publishes `pages` (a run of published code from its first page up to
/// `batch_start`, then fresh pages) with a batch written from `batch_start` on:
/// a fresh private mapping gets a copy of the published bytes and the batch, is made
/// read+execute, and replaces the run in one `mremap`.
///
/// # Safety
/// `pages` must be page-aligned and lie in a reservation of this code memory,
/// readable up to `batch_start` and inaccessible after it, with no other thread
/// publishing into it.
unsafe fn rewrite_run(
    pages: Range<usize>,
    batch_start: usize,
    write: impl FnOnce(&mut [u8], usize) -> Result<(), JitError>,
) -> Result<(), JitError> {
    let len = pages.len();
    let scratch = Scratch::map(len)?;
    // SAFETY: `scratch` is a fresh read+write mapping of `len` bytes, ours alone.
    let bytes = unsafe { std::slice::from_raw_parts_mut(scratch.ptr.cast::<u8>(), len) };
    let published = batch_start - pages.start;
    // SAFETY: per the contract, the run's published bytes are readable; they never
    // change while they are executable, so reading them races with nothing.
    bytes[..published].copy_from_slice(unsafe {
        std::slice::from_raw_parts(pages.start as *const u8, published)
    });
    write(bytes, pages.start)?;
    // SAFETY: the scratch mapping is ours; after this call it is never written.
    unsafe { region::protect(scratch.ptr, len, region::Protection::READ_EXECUTE) }
        .map_err(|e| JitError::System(format!("cannot make code executable: {e}")))?;
    flush_icache(scratch.ptr as usize, len);
    // SAFETY: both ranges are page-aligned and `len` long; the target lies in our
    // reservation (per the contract), whose pages the move replaces at once with
    // identical bytes for the code already published there.
    let moved = unsafe {
        libc::mremap(
            scratch.ptr,
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            pages.start as *mut libc::c_void,
        )
    };
    if moved == libc::MAP_FAILED {
        return Err(JitError::System(format!(
            "cannot move code into place: {}",
            std::io::Error::last_os_error()
        )));
    }
    // The mapping now lives at `pages`, owned by the reservation.
    std::mem::forget(scratch);
    Ok(())
}

/// A private anonymous read+write mapping, unmapped on drop unless forgotten.
struct Scratch {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Scratch {
    fn map(len: usize) -> Result<Scratch, JitError> {
        // SAFETY: a new anonymous mapping at an address the kernel picks.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(JitError::System(format!(
                "cannot map code memory: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(Scratch { ptr, len })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours, was never moved (a moved one is forgotten)
        // and nothing refers to it any more.
        unsafe { libc::munmap(self.ptr, self.len) };
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

    fn bytes_of(range: &Range<usize>) -> Vec<u8> {
        // SAFETY: published code stays mapped readable while its code memory lives,
        // and the callers pass ranges of live batches.
        unsafe { std::slice::from_raw_parts(range.start as *const u8, range.len()) }.to_vec()
    }

    fn function(byte: u8, len: usize) -> CompiledFunction {
        CompiledFunction {
            code: vec![byte; len],
            ..CompiledFunction::default()
        }
    }

    /// Batches published one at a time are packed into the same page, and code
    /// published before keeps its bytes when a later batch joins its page.
    #[test]
    fn small_batches_share_pages_and_keep_their_bytes() {
        let code = CodeMemory::new();
        let batches: Vec<Batch> = (1..=20u8)
            .map(|i| code.publish(&[&function(i, 40)], |_| None).unwrap())
            .collect();
        for pair in batches.windows(2) {
            assert_eq!(pair[1].range.start, pair[0].range.start + 48, "packed");
        }
        for (i, batch) in (1..=20u8).zip(&batches) {
            assert_eq!(bytes_of(&batch.range), vec![i; 40]);
        }
        assert_eq!(code.committed_bytes(), region::page::size());
    }

    /// The kernel mappings inside the reservation starting at `base`.
    fn mappings_in(base: usize) -> usize {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        maps.lines()
            .filter_map(|line| line.split('-').next())
            .filter_map(|start| usize::from_str_radix(start, 16).ok())
            .filter(|start| (base..base + CHUNK_SIZE).contains(start))
            .count()
    }

    /// However many batches are published one by one, each run of up to
    /// `RUN_LIMIT` bytes is one mapping.
    #[test]
    fn batches_published_one_by_one_need_a_mapping_per_run() {
        let code = CodeMemory::new();
        let first = code.publish(&[&function(1, 400)], |_| None).unwrap();
        let batches = 300;
        for _ in 1..batches {
            code.publish(&[&function(2, 400)], |_| None).unwrap();
        }
        let runs = (batches * 400usize).div_ceil(RUN_LIMIT);
        let mappings = mappings_in(first.range.start);
        // The runs, and the rest of the reservation.
        assert!(mappings <= runs + 1, "{mappings} mappings for {runs} runs");
        assert_eq!(bytes_of(&first.range), vec![1; 400]);
    }
}
