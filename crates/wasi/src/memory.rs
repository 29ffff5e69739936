//! Checked access to the guest's linear memory.
//!
//! Every pointer a guest passes is a 32-bit offset into its linear memory. All
//! access goes through range-checked copies or slices of it, so a bad pointer can
//! at worst fail a range check: it becomes `EFAULT`, never a host access outside
//! the guest's memory. Before a call writes anything, the regions it will touch
//! are checked all at once ([`Regions`]): each must be in bounds, and no region
//! the call writes may overlap another region of the same call (reads may overlap
//! reads), so the result never depends on the order the host wrote in.
//!
//! An unshared memory is lent out as one `&mut [u8]`, and the host reads and
//! writes it in place. A shared memory (threads) is never borrowed as bytes, since
//! other threads may write it at any time: reads copy out of it into owned
//! buffers and writes copy into it, through `SharedMemory::read`/`write`. Where
//! the host writes into guest buffers ([`GuestMemory::with_bytes_mut`],
//! [`GuestMemory::with_io_slices_mut`]), it writes a zeroed staging buffer
//! (calloc'd, so pages the host never writes cost nothing), and only the prefix
//! it reports having written is copied back.

use crate::errno::Errno;
use lazuli::SharedMemory;
use std::borrow::Cow;
use std::io::{IoSlice, IoSliceMut};
use std::ops::Range;

/// The most iovecs one call accepts, as POSIX's `IOV_MAX` on Linux; more is `EINVAL`.
pub(crate) const IOV_MAX: u32 = 1024;

/// The most bytes one vectored write takes, as on Linux.
pub(crate) const MAX_WRITE: u64 = 0x7fff_f000;

/// The guest's linear memory during one WASI call.
pub(crate) struct GuestMemory<'a> {
    data: Data<'a>,
}

/// Where the guest's bytes are.
enum Data<'a> {
    /// An unshared memory: the store is borrowed, so nothing else touches it.
    Unshared(&'a mut [u8]),
    /// A shared memory: reached only by copies.
    Shared(&'a SharedMemory),
}

/// One `(ptr, len)` range of guest memory a call reads or writes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Region {
    pub(crate) start: u32,
    pub(crate) len: u32,
}

impl Region {
    pub(crate) fn new(start: u32, len: u32) -> Region {
        Region { start, len }
    }

    fn end(self) -> u64 {
        u64::from(self.start) + u64::from(self.len)
    }
}

/// Copies `buf.len()` bytes at `at` out of a shared memory. Only called on
/// ranges [`GuestMemory::range`] accepted, and a shared memory never shrinks,
/// so the copy cannot fail; if it did, the access is a bad pointer.
fn shared_read(memory: &SharedMemory, at: usize, buf: &mut [u8]) -> Result<(), Errno> {
    memory.read(at, buf).map_err(|_| Errno::FAULT)
}

/// Copies `bytes` to `at` in a shared memory (see [`shared_read`]).
fn shared_write(memory: &SharedMemory, at: usize, bytes: &[u8]) -> Result<(), Errno> {
    memory.write(at, bytes).map_err(|_| Errno::FAULT)
}

impl<'a> GuestMemory<'a> {
    /// An unshared memory's bytes.
    pub(crate) fn new(data: &'a mut [u8]) -> GuestMemory<'a> {
        GuestMemory {
            data: Data::Unshared(data),
        }
    }

    /// A shared memory, reached only by copies.
    pub(crate) fn shared(memory: &'a SharedMemory) -> GuestMemory<'a> {
        GuestMemory {
            data: Data::Shared(memory),
        }
    }

    /// The memory's size in bytes now (a shared memory may grow meanwhile, never
    /// shrink, so a range inside it stays inside).
    fn len(&self) -> usize {
        match &self.data {
            Data::Unshared(data) => data.len(),
            Data::Shared(memory) => memory.data_size(),
        }
    }

    /// The byte range of `ptr..ptr + len`, if it lies inside the memory.
    pub(crate) fn range(&self, ptr: u32, len: u64) -> Result<Range<usize>, Errno> {
        let start = u64::from(ptr);
        let end = start.checked_add(len).ok_or(Errno::FAULT)?;
        if end > self.len() as u64 {
            return Err(Errno::FAULT);
        }
        // Both fit in `usize`: they are at most the length of the memory.
        Ok(start as usize..end as usize)
    }

    /// The bytes at `ptr..ptr + len`: borrowed from an unshared memory, copied
    /// out of a shared one.
    pub(crate) fn bytes(&self, ptr: u32, len: u32) -> Result<Cow<'_, [u8]>, Errno> {
        let range = self.range(ptr, u64::from(len))?;
        match &self.data {
            Data::Unshared(data) => Ok(Cow::Borrowed(&data[range])),
            Data::Shared(memory) => {
                let mut out = vec![0; range.len()];
                shared_read(memory, range.start, &mut out)?;
                Ok(Cow::Owned(out))
            }
        }
    }

    /// Lets `f` write into the bytes at `ptr..ptr + len`; `f` returns how many
    /// bytes from the start it wrote, which is also returned. On a shared memory
    /// `f` writes a zeroed staging buffer and only that prefix is copied back, so
    /// the bytes after it are left as other threads may have written them.
    pub(crate) fn with_bytes_mut(
        &mut self,
        ptr: u32,
        len: u32,
        f: impl FnOnce(&mut [u8]) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        let range = self.range(ptr, u64::from(len))?;
        match &mut self.data {
            Data::Unshared(data) => f(&mut data[range]),
            Data::Shared(memory) => {
                let mut staged = vec![0; range.len()];
                let n = f(&mut staged)?.min(staged.len());
                shared_write(memory, range.start, &staged[..n])?;
                Ok(n)
            }
        }
    }

    fn array<const N: usize>(&self, ptr: u32) -> Result<[u8; N], Errno> {
        let range = self.range(ptr, N as u64)?;
        let mut out = [0; N];
        match &self.data {
            Data::Unshared(data) => out.copy_from_slice(&data[range]),
            Data::Shared(memory) => shared_read(memory, range.start, &mut out)?,
        }
        Ok(out)
    }

    pub(crate) fn read_u8(&self, ptr: u32) -> Result<u8, Errno> {
        Ok(self.array::<1>(ptr)?[0])
    }

    pub(crate) fn read_u16(&self, ptr: u32) -> Result<u16, Errno> {
        Ok(u16::from_le_bytes(self.array(ptr)?))
    }

    pub(crate) fn read_u32(&self, ptr: u32) -> Result<u32, Errno> {
        Ok(u32::from_le_bytes(self.array(ptr)?))
    }

    pub(crate) fn read_u64(&self, ptr: u32) -> Result<u64, Errno> {
        Ok(u64::from_le_bytes(self.array(ptr)?))
    }

    pub(crate) fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), Errno> {
        let range = self.range(ptr, bytes.len() as u64)?;
        match &mut self.data {
            Data::Unshared(data) => data[range].copy_from_slice(bytes),
            Data::Shared(memory) => shared_write(memory, range.start, bytes)?,
        }
        Ok(())
    }

    pub(crate) fn write_u32(&mut self, ptr: u32, value: u32) -> Result<(), Errno> {
        self.write(ptr, &value.to_le_bytes())
    }

    pub(crate) fn write_u64(&mut self, ptr: u32, value: u64) -> Result<(), Errno> {
        self.write(ptr, &value.to_le_bytes())
    }

    /// A guest string: in bounds (`EFAULT`), UTF-8 (`EILSEQ`) and free of NUL
    /// bytes, which no host path can contain (`EINVAL`). Copied out of a shared
    /// memory once, so it is checked and used as the same bytes.
    pub(crate) fn path(&self, ptr: u32, len: u32) -> Result<Cow<'_, str>, Errno> {
        let text = match self.bytes(ptr, len)? {
            Cow::Borrowed(bytes) => {
                Cow::Borrowed(std::str::from_utf8(bytes).map_err(|_| Errno::ILSEQ)?)
            }
            Cow::Owned(bytes) => Cow::Owned(String::from_utf8(bytes).map_err(|_| Errno::ILSEQ)?),
        };
        if text.contains('\0') {
            return Err(Errno::INVAL);
        }
        Ok(text)
    }

    /// The buffers of an iovec array at `iovs` (`iovs_len` entries of `{ buf: u32,
    /// len: u32 }`), bounds-checked.
    pub(crate) fn iovecs(&self, iovs: u32, iovs_len: u32) -> Result<Vec<Region>, Errno> {
        if iovs_len > IOV_MAX {
            return Err(Errno::INVAL);
        }
        self.range(iovs, u64::from(iovs_len) * 8)?;
        let mut out = Vec::with_capacity(iovs_len as usize);
        for i in 0..iovs_len {
            let entry = iovs + i * 8;
            let region = Region::new(self.read_u32(entry)?, self.read_u32(entry + 4)?);
            self.range(region.start, u64::from(region.len))?;
            out.push(region);
        }
        Ok(out)
    }

    /// Calls `f` with shared slices over `regions`, for a vectored write. Of a
    /// shared memory, only the first [`MAX_WRITE`] bytes are copied out (the
    /// regions may overlap, so together they can be far larger than the memory),
    /// as no write takes more.
    pub(crate) fn with_io_slices<R>(
        &self,
        regions: &[Region],
        f: impl FnOnce(&[IoSlice<'_>]) -> Result<R, Errno>,
    ) -> Result<R, Errno> {
        let mut left = MAX_WRITE;
        let mut bufs = Vec::with_capacity(regions.len());
        for r in regions {
            let len = match self.data {
                Data::Unshared(_) => r.len,
                // At most `MAX_WRITE`, which fits in `u32`.
                Data::Shared(_) => u64::from(r.len).min(left) as u32,
            };
            left -= u64::from(len).min(left);
            bufs.push(self.bytes(r.start, len)?);
        }
        let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
        f(&slices)
    }

    /// Calls `f` with mutable slices over `regions`, in their order, for a
    /// vectored read; `f` returns how many bytes it wrote, front to back through
    /// the slices, which is also returned. The regions must not overlap (checked:
    /// `EFAULT`). On a shared memory `f` writes zeroed staging buffers, and only
    /// the bytes it wrote are copied back.
    pub(crate) fn with_io_slices_mut(
        &mut self,
        regions: &[Region],
        f: impl FnOnce(&mut [IoSliceMut<'_>]) -> Result<usize, Errno>,
    ) -> Result<usize, Errno> {
        for r in regions {
            self.range(r.start, u64::from(r.len))?;
        }
        let memory = match &mut self.data {
            Data::Unshared(data) => return f(&mut carve(data, regions)?),
            Data::Shared(memory) => *memory,
        };
        // The same rule as `carve`'s: no two non-empty regions overlap.
        Regions::new().write_all(regions).check(self)?;
        // Disjoint and in bounds, so together no larger than the memory.
        let total: usize = regions.iter().map(|r| r.len as usize).sum();
        let mut staged = vec![0u8; total];
        let mut slices = Vec::with_capacity(regions.len());
        let mut rest = &mut staged[..];
        for r in regions {
            let (piece, tail) = std::mem::take(&mut rest).split_at_mut(r.len as usize);
            slices.push(IoSliceMut::new(piece));
            rest = tail;
        }
        let n = f(&mut slices)?.min(total);
        drop(slices);
        let (mut done, mut left) = (0usize, n);
        for r in regions {
            let k = (r.len as usize).min(left);
            shared_write(memory, r.start as usize, &staged[done..done + k])?;
            done += k;
            left -= k;
        }
        Ok(n)
    }
}

/// Mutable slices of `data` over `regions`, in their order; `EFAULT` if two
/// overlap. The regions are in bounds.
fn carve<'d>(data: &'d mut [u8], regions: &[Region]) -> Result<Vec<IoSliceMut<'d>>, Errno> {
    // Carve the memory front to back in address order, then put the pieces back
    // in the caller's order.
    // Empty regions get empty slices and take no part.
    let mut order: Vec<usize> = (0..regions.len()).filter(|&i| regions[i].len > 0).collect();
    order.sort_by_key(|&i| regions[i].start);
    let mut pieces: Vec<Option<&mut [u8]>> = (0..regions.len()).map(|_| None).collect();
    let mut rest: &mut [u8] = data;
    let mut base = 0usize;
    for i in order {
        let r = regions[i];
        let start = r.start as usize;
        if start < base {
            return Err(Errno::FAULT);
        }
        let tail = std::mem::take(&mut rest);
        let (_, tail) = tail.split_at_mut(start - base);
        let (piece, tail) = tail.split_at_mut(r.len as usize);
        pieces[i] = Some(piece);
        rest = tail;
        base = start + r.len as usize;
    }
    Ok(pieces
        .into_iter()
        .map(|p| IoSliceMut::new(p.unwrap_or_default()))
        .collect())
}

/// The regions one call touches, checked together before anything is written.
#[derive(Default)]
pub(crate) struct Regions {
    list: Vec<(Region, bool)>,
}

impl Regions {
    pub(crate) fn new() -> Regions {
        Regions::default()
    }

    /// A region the call reads.
    pub(crate) fn read(&mut self, start: u32, len: u32) -> &mut Self {
        self.list.push((Region::new(start, len), false));
        self
    }

    /// A region the call writes.
    pub(crate) fn write(&mut self, start: u32, len: u32) -> &mut Self {
        self.list.push((Region::new(start, len), true));
        self
    }

    pub(crate) fn read_all(&mut self, regions: &[Region]) -> &mut Self {
        self.list.extend(regions.iter().map(|r| (*r, false)));
        self
    }

    pub(crate) fn write_all(&mut self, regions: &[Region]) -> &mut Self {
        self.list.extend(regions.iter().map(|r| (*r, true)));
        self
    }

    /// `EFAULT` if any region is out of bounds or a written region overlaps any
    /// other. Empty regions touch nothing and overlap nothing.
    pub(crate) fn check(&mut self, mem: &GuestMemory<'_>) -> Result<(), Errno> {
        for (r, _) in &self.list {
            mem.range(r.start, u64::from(r.len))?;
        }
        self.list.retain(|(r, _)| r.len > 0);
        self.list.sort_by_key(|(r, _)| r.start);
        // Sweep in address order: a region overlaps an earlier one exactly when it
        // starts before the furthest end seen so far.
        let (mut end_any, mut end_written) = (0u64, 0u64);
        for (r, written) in &self.list {
            let start = u64::from(r.start);
            if start < end_written || (*written && start < end_any) {
                return Err(Errno::FAULT);
            }
            end_any = end_any.max(r.end());
            if *written {
                end_written = end_written.max(r.end());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked() {
        let mut data = vec![0u8; 100];
        let mem = GuestMemory::new(&mut data);
        assert!(mem.bytes(0, 100).is_ok());
        assert!(mem.bytes(100, 0).is_ok());
        assert_eq!(mem.bytes(101, 0), Err(Errno::FAULT));
        assert_eq!(mem.bytes(99, 2), Err(Errno::FAULT));
        assert_eq!(mem.bytes(u32::MAX, u32::MAX), Err(Errno::FAULT));
        assert_eq!(mem.read_u64(93), Err(Errno::FAULT));
        assert_eq!(mem.read_u64(92), Ok(0));
    }

    #[test]
    fn overlap_rules() {
        let mut data = vec![0u8; 100];
        let mem = GuestMemory::new(&mut data);
        let check = |list: &[(u32, u32, bool)]| {
            let mut regions = Regions::new();
            for &(s, l, w) in list {
                if w {
                    regions.write(s, l);
                } else {
                    regions.read(s, l);
                }
            }
            regions.check(&mem)
        };
        assert_eq!(check(&[(0, 10, false), (5, 10, false)]), Ok(()));
        assert_eq!(check(&[(0, 10, true), (10, 10, true)]), Ok(()));
        assert_eq!(check(&[(0, 10, false), (9, 4, true)]), Err(Errno::FAULT));
        assert_eq!(check(&[(9, 4, true), (0, 10, false)]), Err(Errno::FAULT));
        assert_eq!(check(&[(0, 50, false), (20, 4, true)]), Err(Errno::FAULT));
        assert_eq!(
            check(&[(0, 50, true), (10, 2, false), (60, 2, false)]),
            Err(Errno::FAULT)
        );
        assert_eq!(check(&[(5, 0, true), (0, 10, true)]), Ok(()));
        assert_eq!(check(&[(95, 10, false)]), Err(Errno::FAULT));
    }

    #[test]
    fn mutable_slices_keep_caller_order() {
        let mut data: Vec<u8> = (0..20).collect();
        let mut mem = GuestMemory::new(&mut data);
        let regions = [Region::new(10, 3), Region::new(0, 2), Region::new(11, 0)];
        let n = mem
            .with_io_slices_mut(&regions, |slices| {
                assert_eq!(&*slices[0], &[10, 11, 12]);
                assert_eq!(&*slices[1], &[0, 1]);
                assert!(slices[2].is_empty());
                Ok(0)
            })
            .unwrap();
        assert_eq!(n, 0);
        let overlapping = [Region::new(0, 5), Region::new(4, 2)];
        assert!(mem.with_io_slices_mut(&overlapping, |_| Ok(0)).is_err());
    }

    fn shared_page() -> SharedMemory {
        let engine = lazuli::Engine::default();
        SharedMemory::new(&engine, lazuli::MemoryType::shared(1, 1)).unwrap()
    }

    #[test]
    fn shared_memory_checks_the_same_ranges() {
        let shared = shared_page();
        let mem = GuestMemory::shared(&shared);
        assert_eq!(mem.bytes(65536, 0).as_deref(), Ok(&[][..]));
        assert_eq!(mem.bytes(65537, 0), Err(Errno::FAULT));
        assert_eq!(mem.bytes(65535, 2), Err(Errno::FAULT));
        assert_eq!(mem.read_u64(65529), Err(Errno::FAULT));
        let overlapping = Regions::new().read(0, 10).write(9, 4).check(&mem);
        assert_eq!(overlapping, Err(Errno::FAULT));
    }

    #[test]
    fn shared_memory_copies_back_only_what_the_host_wrote() {
        let shared = shared_page();
        shared.write(0, &[0xaa; 32]).unwrap();
        let mut mem = GuestMemory::shared(&shared);
        // The host writes 5 bytes through two regions: 3 into the first, 2 into
        // the second; the rest of the second keeps what was there.
        let regions = [Region::new(20, 3), Region::new(4, 4)];
        let n = mem
            .with_io_slices_mut(&regions, |slices| {
                assert_eq!(&*slices[0], &[0, 0, 0]);
                slices[0].copy_from_slice(&[1, 2, 3]);
                slices[1][..2].copy_from_slice(&[4, 5]);
                Ok(5)
            })
            .unwrap();
        assert_eq!(n, 5);
        let n = mem
            .with_bytes_mut(10, 6, |buf| {
                buf[0] = 9;
                Ok(1)
            })
            .unwrap();
        assert_eq!(n, 1);
        let mut now = [0u8; 32];
        shared.read(0, &mut now).unwrap();
        let mut expected = [0xaa; 32];
        expected[20..23].copy_from_slice(&[1, 2, 3]);
        expected[4..6].copy_from_slice(&[4, 5]);
        expected[10] = 9;
        assert_eq!(now, expected);
        assert_eq!(&*mem.bytes(20, 3).unwrap(), &[1, 2, 3]);
        let overlapping = [Region::new(0, 5), Region::new(4, 2)];
        assert_eq!(
            mem.with_io_slices_mut(&overlapping, |_| Ok(0)),
            Err(Errno::FAULT)
        );
    }
}
