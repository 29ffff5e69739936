//! Copying compiled code into executable pages.

use lazuli_environ::{CompiledFunction, RelocKind, Relocation};
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
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

/// Size of one chunk of code memory; a batch larger than this gets a chunk of its
/// own size.
const CHUNK_SIZE: usize = 1 << 20;

/// Executable memory for one owner (a module, or an engine's trampolines). Code is
/// added in batches, packed one after the other (16-byte aligned) into chunks, so
/// that a small function compiled alone does not take a page of its own.
///
/// Each chunk is a memfd mapped once, shared and read+execute, for its whole life:
/// no mapping of it is ever writable. A batch is laid out and relocated in an
/// ordinary buffer, then written into the file with `pwrite` at bytes that no
/// published code occupies, which the kernel copies into the very pages the
/// mapping shows. Code already published keeps its addresses and bytes, and code
/// running on other threads, in the same pages, is not disturbed: no protection
/// change, no remapping and so no TLB shootdown per publish. Only `CodeMemory`
/// holds the files' descriptors (close-on-exec).
///
/// Everything is unmapped on drop; whoever registered the code must unregister it
/// first.
#[derive(Default)]
pub struct CodeMemory {
    chunks: Mutex<Vec<Chunk>>,
}

/// One memfd, its read+execute mapping, and how much of it is used.
struct Chunk {
    file: memfd::Memfd,
    /// Start of the mapping of the whole file.
    base: *const u8,
    len: usize,
    /// Bytes from the start holding published code (then padding up to 16 bytes).
    used: usize,
}

// SAFETY: `base` is only an address: the mapping it starts is read-only for the
// process, its bytes only ever change (through the file, under the mutex) where no
// published code is, and sharing published code between threads is what it is for.
unsafe impl Send for Chunk {}

impl Chunk {
    fn new(len: usize) -> Result<Chunk, JitError> {
        let system = |what: &str, e: &dyn std::fmt::Display| {
            JitError::System(format!("cannot {what} code memory: {e}"))
        };
        let file = memfd::MemfdOptions::new()
            .close_on_exec(true)
            .create("lazuli-code")
            .map_err(|e| system("create", &e))?;
        file.as_file()
            .set_len(len as u64)
            .map_err(|e| system("size", &e))?;
        // SAFETY: a new shared mapping of the whole file at an address the kernel
        // picks; the file is `len` bytes long and lives as long as the chunk.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_EXEC,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(system("map", &std::io::Error::last_os_error()));
        }
        Ok(Chunk {
            file,
            base: base.cast(),
            len,
            used: 0,
        })
    }

    fn base(&self) -> usize {
        self.base as usize
    }

    /// Writes `bytes` into the file at `offset`, where no published code is.
    fn write(&self, offset: usize, bytes: &[u8]) -> Result<(), JitError> {
        self.file
            .as_file()
            .write_all_at(bytes, offset as u64)
            .map_err(|e| JitError::System(format!("cannot write code memory: {e}")))?;
        flush_icache(self.base() + offset, bytes.len());
        Ok(())
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and its owner has unregistered its code, so
        // nothing refers to it any more.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) };
    }
}

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
        let (offsets, size) = lay_out(functions);
        // Every batch takes room, so that no two batches start at the same address.
        let size = size.max(1);
        let mut chunks = self.chunks.lock().unwrap_or_else(PoisonError::into_inner);
        let chunk = place(&mut chunks, size)?;
        let offset = chunk.used;
        let start = chunk.base() + offset;
        let mut bytes = relocate(functions, &offsets, start, resolve)?;
        bytes.resize(size, 0);
        chunk.write(offset, &bytes)?;
        chunk.used = (offset + size).next_multiple_of(FUNCTION_ALIGN);
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

/// Lays `functions` out one after another, each 16-byte aligned, into an image
/// that can be placed at any address: the relocations between them are relative,
/// resolved through `resolve` (a callee's position in `functions`). Precompiled
/// modules are such images, mapped executable where they lie in their file.
pub fn relocatable_image(
    functions: &[&CompiledFunction],
    resolve: impl Fn(u32) -> Option<usize>,
) -> Result<(Vec<u8>, Vec<Range<usize>>), JitError> {
    let mut relocs = functions.iter().flat_map(|f| &f.relocs);
    if let Some(r) = relocs.find(|r| r.kind == RelocKind::Abs8) {
        return Err(JitError::Placement(format!(
            "an absolute relocation (to function {}) has no place in a relocatable image",
            r.func
        )));
    }
    // Relative relocations come out the same whatever the base: lay out at 0.
    let (offsets, _) = lay_out(functions);
    let bytes = relocate(functions, &offsets, 0, |_, func| {
        resolve(func).map(RelocTarget::Batch)
    })?;
    Ok((bytes, offsets))
}

/// Each of `functions`' range in their layout (16-byte aligned, in order), and
/// the layout's size.
fn lay_out(functions: &[&CompiledFunction]) -> (Vec<Range<usize>>, usize) {
    let mut offsets = Vec::with_capacity(functions.len());
    let mut size = 0usize;
    for f in functions {
        size = size.next_multiple_of(FUNCTION_ALIGN);
        offsets.push(size..size + f.code.len());
        size += f.code.len();
    }
    (offsets, size)
}

/// The bytes of `functions`, laid out at `offsets` (from [`lay_out`]) to start
/// at address `start`, with their relocations applied (targets from
/// `resolve(i, callee)` for the `i`th function).
fn relocate(
    functions: &[&CompiledFunction],
    offsets: &[Range<usize>],
    start: usize,
    resolve: impl Fn(usize, u32) -> Option<RelocTarget>,
) -> Result<Vec<u8>, JitError> {
    let mut bytes = vec![0u8; offsets.last().map_or(0, |r| r.end)];
    for (i, (f, range)) in functions.iter().zip(offsets).enumerate() {
        bytes[range.clone()].copy_from_slice(&f.code);
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
            apply(&mut bytes, range.start, reloc, start, target)?;
        }
    }
    Ok(bytes)
}

/// The chunk `size` bytes go into: the last one if they fit after its code, else a
/// new one (made the last).
fn place(chunks: &mut Vec<Chunk>, size: usize) -> Result<&mut Chunk, JitError> {
    let fits = chunks.last().is_some_and(|c| c.used + size <= c.len);
    if !fits {
        let len = size.next_multiple_of(region::page::size()).max(CHUNK_SIZE);
        chunks.push(Chunk::new(len)?);
    }
    match chunks.last_mut() {
        Some(chunk) => Ok(chunk),
        None => unreachable!("a chunk was just pushed"),
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
pub(crate) fn flush_icache(start: usize, len: usize) {
    unsafe extern "C" {
        fn __clear_cache(start: *mut u8, end: *mut u8);
    }
    // SAFETY: the range is mapped code memory owned by the caller.
    unsafe { __clear_cache(start as *mut u8, (start + len) as *mut u8) }
}

/// x86-64 keeps instruction fetch coherent with stores.
#[cfg(not(target_arch = "aarch64"))]
pub(crate) fn flush_icache(_start: usize, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// `call func; ret`, the call's displacement a relocation.
    fn call_to(func: u32) -> CompiledFunction {
        CompiledFunction {
            code: vec![0xe8, 0, 0, 0, 0, 0xc3],
            relocs: vec![Relocation {
                offset: 1,
                kind: RelocKind::X86CallPcRel4,
                func,
                addend: -4,
            }],
            ..CompiledFunction::default()
        }
    }

    /// A relocatable image's calls are relative, so they hold wherever the image
    /// is placed; an absolute relocation cannot be in one.
    #[test]
    fn a_relocatable_image_resolves_calls_relatively_and_refuses_absolute_ones() {
        let callee = function(0xc3, 20);
        let (image, ranges) =
            relocatable_image(&[&call_to(1), &callee], |f| Some(f as usize)).unwrap();
        assert_eq!(ranges, vec![0..6, 16..36]);
        let delta = i32::from_le_bytes(image[1..5].try_into().unwrap());
        assert_eq!(delta, 16 - 5, "from the end of the call to the callee");
        let absolute = CompiledFunction {
            code: vec![0; 8],
            relocs: vec![Relocation {
                offset: 0,
                kind: RelocKind::Abs8,
                func: 0,
                addend: 0,
            }],
            ..CompiledFunction::default()
        };
        let err = relocatable_image(&[&absolute], |f| Some(f as usize)).unwrap_err();
        assert!(!err.is_transient(), "{err}");
    }

    #[test]
    fn a_relocation_without_a_target_is_a_deterministic_error() {
        let func = call_to(7);
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

    /// The kernel mappings inside the chunk starting at `base`, with their
    /// permissions.
    fn mappings_in(base: usize) -> Vec<String> {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        maps.lines()
            .filter(|line| {
                let start = line.split('-').next().unwrap_or("");
                usize::from_str_radix(start, 16)
                    .is_ok_and(|start| (base..base + CHUNK_SIZE).contains(&start))
            })
            .map(|line| line.split_whitespace().nth(1).unwrap_or("").to_string())
            .collect()
    }

    /// However many batches are published one by one, a chunk stays one mapping,
    /// and that mapping is never writable.
    #[test]
    fn a_chunk_is_one_read_execute_mapping() {
        let code = CodeMemory::new();
        let first = code.publish(&[&function(1, 400)], |_| None).unwrap();
        for _ in 1..300 {
            code.publish(&[&function(2, 400)], |_| None).unwrap();
        }
        assert_eq!(mappings_in(first.range.start), vec!["r-xs".to_string()]);
        assert_eq!(bytes_of(&first.range), vec![1; 400]);
    }

    /// A batch that does not fit in what is left of a chunk starts a new one, and
    /// one larger than a chunk gets a chunk of its own size.
    #[test]
    fn a_batch_too_large_for_the_chunk_gets_a_new_one() {
        let code = CodeMemory::new();
        let small = code.publish(&[&function(1, 64)], |_| None).unwrap();
        let large = code
            .publish(&[&function(3, CHUNK_SIZE + 100)], |_| None)
            .unwrap();
        assert_ne!(large.range.start, small.range.start + 64);
        assert_eq!(bytes_of(&large.range), vec![3; CHUNK_SIZE + 100]);
        assert_eq!(bytes_of(&small.range), vec![1; 64]);
    }

    /// Relocations inside a batch point at the batch's own functions where they
    /// landed.
    #[test]
    fn batch_relocations_point_at_the_published_callee() {
        let caller = call_to(1);
        let code = CodeMemory::new();
        code.publish(&[&function(9, 5)], |_| None).unwrap();
        let batch = code
            .publish(&[&caller, &function(0xc3, 1)], |_| {
                Some(RelocTarget::Batch(1))
            })
            .unwrap();
        let call = &batch.functions[0];
        let bytes = bytes_of(call);
        let delta = i32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        assert_eq!(
            (call.start + 5) as i64 + delta as i64,
            batch.functions[1].start as i64
        );
    }
}
