//! Checked access to the guest's linear memory.
//!
//! Every pointer a guest passes is a 32-bit offset into its linear memory, which the
//! host sees as one `&mut [u8]`. All access goes through slices of it, so a bad
//! pointer can at worst fail a range check: it becomes `EFAULT`, never a host
//! access outside the guest's memory. Before a call writes anything, the regions
//! it will touch are checked all at once ([`Regions`]): each must be in bounds, and
//! no region the call writes may overlap another region of the same call (reads may
//! overlap reads), so the result never depends on the order the host wrote in.

use crate::errno::Errno;
use std::io::{IoSlice, IoSliceMut};
use std::ops::Range;

/// The most iovecs one call accepts, as POSIX's `IOV_MAX` on Linux; more is `EINVAL`.
pub(crate) const IOV_MAX: u32 = 1024;

/// The guest's linear memory during one WASI call.
pub(crate) struct GuestMemory<'a> {
    data: &'a mut [u8],
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

impl<'a> GuestMemory<'a> {
    pub(crate) fn new(data: &'a mut [u8]) -> GuestMemory<'a> {
        GuestMemory { data }
    }

    /// The byte range of `ptr..ptr + len`, if it lies inside the memory.
    pub(crate) fn range(&self, ptr: u32, len: u64) -> Result<Range<usize>, Errno> {
        let start = u64::from(ptr);
        let end = start.checked_add(len).ok_or(Errno::FAULT)?;
        if end > self.data.len() as u64 {
            return Err(Errno::FAULT);
        }
        // Both fit in `usize`: they are at most the length of a slice.
        Ok(start as usize..end as usize)
    }

    pub(crate) fn bytes(&self, ptr: u32, len: u32) -> Result<&[u8], Errno> {
        let range = self.range(ptr, u64::from(len))?;
        Ok(&self.data[range])
    }

    pub(crate) fn bytes_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], Errno> {
        let range = self.range(ptr, u64::from(len))?;
        Ok(&mut self.data[range])
    }

    fn array<const N: usize>(&self, ptr: u32) -> Result<[u8; N], Errno> {
        let range = self.range(ptr, N as u64)?;
        let mut out = [0; N];
        out.copy_from_slice(&self.data[range]);
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
        self.data[range].copy_from_slice(bytes);
        Ok(())
    }

    pub(crate) fn write_u32(&mut self, ptr: u32, value: u32) -> Result<(), Errno> {
        self.write(ptr, &value.to_le_bytes())
    }

    pub(crate) fn write_u64(&mut self, ptr: u32, value: u64) -> Result<(), Errno> {
        self.write(ptr, &value.to_le_bytes())
    }

    /// A guest string: in bounds (`EFAULT`), UTF-8 (`EILSEQ`) and free of NUL
    /// bytes, which no host path can contain (`EINVAL`).
    pub(crate) fn path(&self, ptr: u32, len: u32) -> Result<&str, Errno> {
        let bytes = self.bytes(ptr, len)?;
        let text = std::str::from_utf8(bytes).map_err(|_| Errno::ILSEQ)?;
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

    /// Shared slices over `regions`, for a vectored write.
    pub(crate) fn io_slices(&self, regions: &[Region]) -> Result<Vec<IoSlice<'_>>, Errno> {
        regions
            .iter()
            .map(|r| Ok(IoSlice::new(self.bytes(r.start, r.len)?)))
            .collect()
    }

    /// Mutable slices over `regions`, in their order, for a vectored read. The
    /// regions must not overlap (checked: `EFAULT`).
    pub(crate) fn io_slices_mut(
        &mut self,
        regions: &[Region],
    ) -> Result<Vec<IoSliceMut<'_>>, Errno> {
        for r in regions {
            self.range(r.start, u64::from(r.len))?;
        }
        // Carve the memory front to back in address order, then put the pieces back
        // in the caller's order.
        // Empty regions get empty slices and take no part.
        let mut order: Vec<usize> = (0..regions.len()).filter(|&i| regions[i].len > 0).collect();
        order.sort_by_key(|&i| regions[i].start);
        let mut pieces: Vec<Option<&mut [u8]>> = (0..regions.len()).map(|_| None).collect();
        let mut rest: &mut [u8] = &mut *self.data;
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
        let slices = mem.io_slices_mut(&regions).unwrap();
        assert_eq!(&*slices[0], &[10, 11, 12]);
        assert_eq!(&*slices[1], &[0, 1]);
        assert!(slices[2].is_empty());
        drop(slices);
        let overlapping = [Region::new(0, 5), Region::new(4, 2)];
        assert!(mem.io_slices_mut(&overlapping).is_err());
    }
}
