//! Copy-on-write memory images. A module's memory starts out as zeros with its
//! data segments written over them; when those segments are known before
//! instantiation, their bytes are written once into a sealed memfd, and each new
//! instance maps that file privately over its memory instead of copying them. The
//! kernel then shares the image's pages between all instances and copies a page
//! only when an instance first writes to it, so instantiation costs one `mmap`
//! whatever the size of the data, and pages never touched are never copied. Each
//! image holds its file's descriptor (close-on-exec) for as long as it lives.

use crate::memory::{LinearMemory, MemoryError};
use memfd::{FileSeal, MemfdOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

/// The initial contents of one memory, from the first host page that holds
/// segment bytes to the last; the memory is zero outside it.
pub struct MemoryImage {
    file: memfd::Memfd,
    /// Where the image starts in the memory: a multiple of the host page size.
    offset: usize,
    /// Bytes in the image (and the file): a multiple of the host page size.
    len: usize,
}

impl MemoryImage {
    /// The image of a memory that is zero but for `segments`, each `(offset,
    /// bytes)`, written in order (a later segment overwrites an earlier one where
    /// they overlap). `None` if the segments hold no bytes: there is nothing to map.
    pub fn new(segments: &[(usize, &[u8])]) -> Result<Option<MemoryImage>, MemoryError> {
        let Some((start, end)) = extent(segments)? else {
            return Ok(None);
        };
        let page = host_page_size();
        let offset = start - start % page;
        let len = end
            .checked_next_multiple_of(page)
            .ok_or(MemoryError::TooLarge)?
            - offset;
        let file = image_file(len)?;
        for (at, bytes) in segments.iter().filter(|(_, bytes)| !bytes.is_empty()) {
            file.as_file()
                .write_all_at(bytes, (at - offset) as u64)
                .map_err(|e| os("write", &e))?;
        }
        let seals = [
            FileSeal::SealShrink,
            FileSeal::SealGrow,
            FileSeal::SealWrite,
            FileSeal::SealSeal,
        ];
        file.add_seals(&seals).map_err(|e| os("seal", &e))?;
        Ok(Some(MemoryImage { file, offset, len }))
    }

    /// Maps the image over `memory`, which must be fresh (all zero) and at least
    /// as large as the image's end. False if the kernel refused the mapping: the
    /// memory is then still all zero, to be initialised by copying. An error if
    /// the memory is too small, or if after a refusal even restoring zero pages
    /// failed: the memory is then empty and cannot grow.
    pub fn map_into(&self, memory: &mut LinearMemory) -> Result<bool, MemoryError> {
        // SAFETY: the file is `self.len` bytes long and sealed against shrinking
        // (and against any change) before the image exists.
        unsafe { memory.map_private(self.offset, self.len, self.file.as_raw_fd()) }
    }
}

/// The first and one past the last byte `segments` write, if they write any.
fn extent(segments: &[(usize, &[u8])]) -> Result<Option<(usize, usize)>, MemoryError> {
    let mut extent: Option<(usize, usize)> = None;
    for (at, bytes) in segments.iter().filter(|(_, bytes)| !bytes.is_empty()) {
        let end = at.checked_add(bytes.len()).ok_or(MemoryError::TooLarge)?;
        extent = Some(extent.map_or((*at, end), |(s, e)| (s.min(*at), e.max(end))));
    }
    Ok(extent)
}

/// A new memfd of `len` zero bytes that accepts seals.
fn image_file(len: usize) -> Result<memfd::Memfd, MemoryError> {
    let file = MemfdOptions::new()
        .close_on_exec(true)
        .allow_sealing(true)
        .create("lazuli-memory-image")
        .map_err(|e| os("create", &e))?;
    file.as_file()
        .set_len(len as u64)
        .map_err(|e| os("size", &e))?;
    Ok(file)
}

fn os(what: &str, e: &dyn std::fmt::Display) -> MemoryError {
    MemoryError::Os(format!("cannot {what} memory image: {e}"))
}

fn host_page_size() -> usize {
    // SAFETY: `sysconf` only reads a system constant.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    // A page is at most a Wasm page on every host Lazuli runs on; an impossible
    // answer falls back to that, which is a multiple of every real page size.
    usize::try_from(size)
        .ok()
        .filter(|s| s.is_power_of_two() && *s <= crate::PAGE_SIZE)
        .unwrap_or(crate::PAGE_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryStyle, PAGE_SIZE};

    #[test]
    fn segments_without_bytes_make_no_image() {
        assert!(MemoryImage::new(&[]).unwrap().is_none());
        assert!(
            MemoryImage::new(&[(5, b""), (PAGE_SIZE, b"")])
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn an_image_maps_its_bytes_at_their_offsets_and_zero_around_them() {
        let image = MemoryImage::new(&[(PAGE_SIZE + 3, b"abc"), (PAGE_SIZE + 4, b"X")])
            .unwrap()
            .unwrap();
        let mut memory = LinearMemory::new(2, None, MemoryStyle::BoundsChecked, None).unwrap();
        assert!(image.map_into(&mut memory).unwrap());
        let data = memory.data();
        assert_eq!(&data[PAGE_SIZE + 3..PAGE_SIZE + 6], b"aXc");
        assert!(data[..PAGE_SIZE + 3].iter().all(|b| *b == 0));
        assert!(data[PAGE_SIZE + 6..].iter().all(|b| *b == 0));
    }

    #[test]
    fn an_image_larger_than_the_memory_is_refused_and_maps_nothing() {
        let image = MemoryImage::new(&[(PAGE_SIZE, b"past the end")])
            .unwrap()
            .unwrap();
        let mut memory = LinearMemory::new(1, None, MemoryStyle::Guarded, None).unwrap();
        assert_eq!(image.map_into(&mut memory), Err(MemoryError::TooLarge));
        assert_eq!(memory.pages(), 1);
        assert!(memory.data().iter().all(|b| *b == 0));
    }
}
