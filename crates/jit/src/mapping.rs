//! Precompiled modules' bytes, mapped page-aligned and read-only (the artifact's
//! file itself, or a copy of bytes handed over), with the part that holds the
//! code then made read+execute: that code runs where it lies, with no copy and no
//! relocation (a precompiled module's image is laid out relocatable at
//! precompile time, see `relocatable_image`).

use crate::JitError;
use std::fs::File;
use std::ops::Range;
use std::os::fd::AsRawFd;

/// A private, read-only mapping of a precompiled module's bytes, part of which
/// may be executable. Never writable once made; unmapped on drop, so whoever
/// registered code in it must unregister it first.
pub struct Mapping {
    base: *mut u8,
    len: usize,
}

// SAFETY: `base` is only an address: the mapping is read-only for its whole
// shared life (only `make_executable`, which takes `&mut self`, changes its
// protection), so any thread may read it or run the code in it.
unsafe impl Send for Mapping {}
// SAFETY: as for `Send`: nothing can write through a shared `Mapping`.
unsafe impl Sync for Mapping {}

fn system(what: &str) -> JitError {
    let e = std::io::Error::last_os_error();
    JitError::System(format!("cannot {what} a precompiled module: {e}"))
}

impl Mapping {
    /// Maps all of `file`, privately and read-only.
    ///
    /// # Safety
    /// Nobody may change the file while the mapping lives: its bytes are handed
    /// out as `&[u8]`, and its code is run.
    pub unsafe fn of_file(file: &File) -> Result<Mapping, JitError> {
        let len = file.metadata().map_err(|_| system("measure"))?.len();
        let len = usize::try_from(len).map_err(|_| system("map"))?;
        if len == 0 {
            return Ok(Mapping::empty());
        }
        // SAFETY: a new private mapping of `len` bytes of an open file at an
        // address the kernel picks, with nothing else in the process at it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(system("map"));
        }
        Ok(Mapping {
            base: base.cast(),
            len,
        })
    }

    /// A mapping holding a copy of `bytes`.
    pub fn copy_of(bytes: &[u8]) -> Result<Mapping, JitError> {
        if bytes.is_empty() {
            return Ok(Mapping::empty());
        }
        // SAFETY: a new anonymous mapping at an address the kernel picks.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes.len(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(system("map"));
        }
        let map = Mapping {
            base: base.cast(),
            len: bytes.len(),
        };
        // SAFETY: the mapping is `bytes.len()` writable bytes, new and ours alone.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), map.base, bytes.len()) };
        map.protect(0..map.len, libc::PROT_READ)?;
        Ok(map)
    }

    fn empty() -> Mapping {
        Mapping {
            base: std::ptr::NonNull::dangling().as_ptr(),
            len: 0,
        }
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `len` readable bytes are mapped at `base` (or none, at a
        // dangling but aligned address) for as long as `self` lives, and nothing
        // writes them (`of_file`'s caller keeps the file unchanged).
        unsafe { std::slice::from_raw_parts(self.base, self.len) }
    }

    /// Makes `range` of the bytes read+execute, and returns the address where it
    /// starts. `range.start` must be a multiple of the host page size.
    pub fn make_executable(&mut self, range: Range<usize>) -> Result<usize, JitError> {
        self.protect(range.clone(), libc::PROT_READ | libc::PROT_EXEC)?;
        let start = self.base as usize + range.start;
        crate::code_memory::flush_icache(start, range.len());
        Ok(start)
    }

    fn protect(&self, range: Range<usize>, protection: libc::c_int) -> Result<(), JitError> {
        let page = region::page::size();
        if !range.start.is_multiple_of(page) || range.start > range.end || range.end > self.len {
            return Err(JitError::Placement(format!(
                "{range:?} is not a page-aligned part of the {} mapped bytes",
                self.len
            )));
        }
        if range.is_empty() {
            return Ok(());
        }
        // SAFETY: the range lies inside our mapping (checked above), and nothing
        // in the process writes it: changing its protection breaks no reference.
        let done =
            unsafe { libc::mprotect(self.base.add(range.start).cast(), range.len(), protection) };
        match done {
            0 => Ok(()),
            _ => Err(system("protect")),
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: the mapping is ours, and its owner has unregistered any code
            // in it, so nothing refers to it any more.
            unsafe { libc::munmap(self.base.cast(), self.len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `mov eax, 42; ret` on x86-64, `mov w0, #42; ret` on aarch64.
    #[cfg(target_arch = "x86_64")]
    const RETURN_42: &[u8] = &[0xb8, 42, 0, 0, 0, 0xc3];
    #[cfg(target_arch = "aarch64")]
    const RETURN_42: &[u8] = &[0x40, 0x05, 0x80, 0x52, 0xc0, 0x03, 0x5f, 0xd6];

    fn artifact() -> Vec<u8> {
        let page = region::page::size();
        let mut bytes = vec![7u8; page];
        bytes.extend_from_slice(RETURN_42);
        bytes
    }

    fn call(address: usize) -> u32 {
        // SAFETY: `address` starts RETURN_42, mapped read+execute by the caller,
        // a complete function of this signature.
        let f: extern "C" fn() -> u32 = unsafe { std::mem::transmute(address) };
        f()
    }

    #[test]
    fn code_in_a_mapped_file_runs_where_it_lies() {
        let path = std::env::temp_dir().join(format!("lazuli-mapping-{}", std::process::id()));
        std::fs::write(&path, artifact()).unwrap();
        let file = File::open(&path).unwrap();
        // SAFETY: the file is this test's own and nothing changes it.
        let mut map = unsafe { Mapping::of_file(&file) }.unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(map.bytes(), &artifact()[..]);
        let page = region::page::size();
        let start = map.make_executable(page..map.bytes().len()).unwrap();
        assert_eq!(start, map.bytes().as_ptr() as usize + page);
        assert_eq!(call(start), 42);
    }

    #[test]
    fn code_in_a_copy_runs_and_an_unaligned_range_is_refused() {
        let mut map = Mapping::copy_of(&artifact()).unwrap();
        let page = region::page::size();
        assert!(map.make_executable(1..page).is_err());
        assert!(map.make_executable(page..page * 4).is_err());
        let start = map.make_executable(page..map.bytes().len()).unwrap();
        assert_eq!(call(start), 42);
    }
}
