//! Copy-on-write memory images. A module's memory starts out as zeros with its
//! data segments written over them; when those segments are known before
//! instantiation, their bytes are written once into a sealed memfd, and each new
//! instance maps that file privately over its memory instead of copying them. The
//! kernel then shares the image's pages between all instances and copies a page
//! only when an instance first writes to it, so instantiation costs one `mmap`
//! whatever the size of the data, and pages never touched are never copied. Each
//! image holds its file's descriptor (close-on-exec) for as long as it lives. A
//! precompiled module carries its image page-aligned in its artifact, which is
//! then mapped the same way straight from the artifact's file.

use crate::memory::{LinearMemory, MemoryError};
use memfd::{FileSeal, MemfdOptions};
use std::fs::File;
use std::ops::Range;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// The initial contents of one memory, from the first host page that holds
/// segment bytes to the last; the memory is zero outside it.
pub struct MemoryImage {
    file: ImageFile,
    /// Where the image starts in the file: a multiple of the host page size.
    file_offset: u64,
    /// Where the image starts in the memory: a multiple of the host page size.
    offset: usize,
    /// Bytes in the image: a multiple of the host page size.
    len: usize,
}

enum ImageFile {
    /// A memfd of the image alone, sealed against any change.
    Sealed(memfd::Memfd),
    /// A precompiled module's artifact, which its user keeps unchanged.
    Artifact(Arc<File>),
}

impl ImageFile {
    fn fd(&self) -> RawFd {
        match self {
            ImageFile::Sealed(file) => file.as_raw_fd(),
            ImageFile::Artifact(file) => file.as_raw_fd(),
        }
    }
}

/// The memory range the image of `segments` (as [`MemoryImage::new`] takes them)
/// covers: from the host page holding their first byte to the end of the page
/// holding their last; `None` if they hold no bytes.
pub fn image_range(segments: &[(usize, &[u8])]) -> Result<Option<Range<usize>>, MemoryError> {
    let Some((start, end)) = extent(segments)? else {
        return Ok(None);
    };
    let page = host_page_size();
    let offset = start - start % page;
    let end = end
        .checked_next_multiple_of(page)
        .ok_or(MemoryError::TooLarge)?;
    Ok(Some(offset..end))
}

impl MemoryImage {
    /// The image of a memory that is zero but for `segments`, each `(offset,
    /// bytes)`, written in order (a later segment overwrites an earlier one where
    /// they overlap). `None` if the segments hold no bytes: there is nothing to map.
    pub fn new(segments: &[(usize, &[u8])]) -> Result<Option<MemoryImage>, MemoryError> {
        let Some(range) = image_range(segments)? else {
            return Ok(None);
        };
        let (offset, len) = (range.start, range.len());
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
        Ok(Some(MemoryImage {
            file: ImageFile::Sealed(file),
            file_offset: 0,
            offset,
            len,
        }))
    }

    /// The image that `range.len()` bytes of `file` from `file_offset` hold, for
    /// the memory's bytes `range` (a result of [`image_range`]); `None` unless
    /// `file_offset` is a multiple of the host page size.
    ///
    /// # Safety
    /// The file must hold those bytes, and nobody may shrink or change it while
    /// the image lives (instances would see the change, or fault on a page
    /// past its end).
    pub unsafe fn in_file(
        file: Arc<File>,
        file_offset: u64,
        range: Range<usize>,
    ) -> Option<MemoryImage> {
        file_offset
            .is_multiple_of(host_page_size() as u64)
            .then(|| MemoryImage {
                file: ImageFile::Artifact(file),
                file_offset,
                offset: range.start,
                len: range.len(),
            })
    }

    /// Maps the image over `memory`, which must be fresh (all zero) and at least
    /// as large as the image's end. False if the kernel refused the mapping: the
    /// memory is then still all zero, to be initialised by copying. An error if
    /// the memory is too small, or if after a refusal even restoring zero pages
    /// failed: the memory is then empty and cannot grow.
    pub fn map_into(&self, memory: &mut LinearMemory) -> Result<bool, MemoryError> {
        // SAFETY: the file holds `self.len` bytes from `file_offset` and cannot
        // shrink: a memfd is sealed against any change before the image exists,
        // and an artifact is kept unchanged by `in_file`'s caller.
        unsafe { memory.map_private(self.offset, self.len, self.file.fd(), self.file_offset) }
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
    use crate::memory::{MemoryLimits, MemoryStyle, PAGE_SIZE};

    fn limits(minimum: u64) -> MemoryLimits {
        MemoryLimits {
            minimum,
            maximum: None,
            memory64: false,
        }
    }

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
        let mut memory = LinearMemory::new(limits(2), MemoryStyle::BoundsChecked, None).unwrap();
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
        let mut memory = LinearMemory::new(limits(1), MemoryStyle::Guarded, None).unwrap();
        assert_eq!(image.map_into(&mut memory), Err(MemoryError::TooLarge));
        assert_eq!(memory.pages(), 1);
        assert!(memory.data().iter().all(|b| *b == 0));
    }
}
