//! A registered function's side tables: decoded ([`SideTables`]), or read in
//! place from the precompiled module that holds them, so that loading one
//! decodes none (they are looked up only when a trap or backtrace asks).

use lazuli_environ::{SideTables, TrapKind};

/// Trap sites and Wasm offsets of one registered function.
#[derive(Debug)]
pub enum Tables {
    Decoded(SideTables),
    InPlace(InPlaceTables),
}

impl From<SideTables> for Tables {
    fn from(tables: SideTables) -> Tables {
        Tables::Decoded(tables)
    }
}

impl Tables {
    /// The trap kind raised by the instruction at `offset`, if it is a trap site.
    /// Never allocates (the signal handler asks).
    pub fn trap_at(&self, offset: u32) -> Option<TrapKind> {
        match self {
            Tables::Decoded(t) => t.trap_at(offset),
            Tables::InPlace(t) => t.trap_at(offset),
        }
    }

    /// The Wasm module offset of the instruction whose code contains `offset`.
    pub fn wasm_offset_at(&self, offset: u32) -> Option<u32> {
        match self {
            Tables::Decoded(t) => t.wasm_offset_at(offset),
            Tables::InPlace(t) => t.wasm_offset_at(offset),
        }
    }
}

/// Bytes of one trap site record: `u32` code offset, then the kind's code.
pub const TRAP_RECORD: usize = 5;
/// Bytes of one Wasm offset record: `u32` code offset, then `u32` offset in the
/// function's body; both little-endian, sorted by code offset like the traps.
pub const OFFSET_RECORD: usize = 8;

/// Side tables as records in memory that their registrant keeps mapped and
/// unchanged until it unregisters them.
#[derive(Debug)]
pub struct InPlaceTables {
    traps: *const u8,
    trap_count: usize,
    offsets: *const u8,
    offset_count: usize,
    /// Where the function's body starts in its module.
    body_start: u32,
}

// SAFETY: the records are only read, and stay unchanged while registered.
unsafe impl Send for InPlaceTables {}
// SAFETY: as for `Send`.
unsafe impl Sync for InPlaceTables {}

impl InPlaceTables {
    /// The tables whose trap records are `traps` and Wasm offset records
    /// `offsets` (whole records, or `None`), of a body at `body_start`.
    ///
    /// # Safety
    /// Both slices must stay mapped and unchanged for as long as the tables are
    /// registered: the registry reads them through pointers.
    pub unsafe fn new(traps: &[u8], offsets: &[u8], body_start: u32) -> Option<InPlaceTables> {
        let whole =
            traps.len().is_multiple_of(TRAP_RECORD) && offsets.len().is_multiple_of(OFFSET_RECORD);
        whole.then_some(InPlaceTables {
            traps: traps.as_ptr(),
            trap_count: traps.len() / TRAP_RECORD,
            offsets: offsets.as_ptr(),
            offset_count: offsets.len() / OFFSET_RECORD,
            body_start,
        })
    }

    fn traps(&self) -> &[u8] {
        // SAFETY: `new`'s caller keeps these bytes mapped while registered, and
        // the registry asks only then.
        unsafe { std::slice::from_raw_parts(self.traps, self.trap_count * TRAP_RECORD) }
    }

    fn offsets(&self) -> &[u8] {
        // SAFETY: as in `traps`.
        unsafe { std::slice::from_raw_parts(self.offsets, self.offset_count * OFFSET_RECORD) }
    }

    fn trap_at(&self, offset: u32) -> Option<TrapKind> {
        let records = self.traps();
        let i = partition_point(self.trap_count, |i| {
            u32_at(records, i * TRAP_RECORD) < offset
        });
        let at = i * TRAP_RECORD;
        (i < self.trap_count && u32_at(records, at) == offset)
            .then(|| TrapKind::from_code(records[at + 4]))
            .flatten()
    }

    fn wasm_offset_at(&self, offset: u32) -> Option<u32> {
        let records = self.offsets();
        let i = partition_point(self.offset_count, |i| {
            u32_at(records, i * OFFSET_RECORD) <= offset
        });
        let at = i.checked_sub(1)? * OFFSET_RECORD;
        Some(u32_at(records, at + 4).saturating_add(self.body_start))
    }
}

/// The first of `0..n` for which `before` is false (it must be true up to some
/// point and false from there on).
fn partition_point(n: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut low, mut high) = (0, n);
    while low < high {
        let mid = low + (high - low) / 2;
        match before(mid) {
            true => low = mid + 1,
            false => high = mid,
        }
    }
    low
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use lazuli_environ::TrapSite;

    /// Records read in place answer as the decoded tables do.
    #[test]
    fn in_place_tables_answer_like_decoded_ones() {
        let decoded = SideTables {
            traps: vec![
                TrapSite {
                    offset: 4,
                    kind: TrapKind::MemoryOutOfBounds,
                },
                TrapSite {
                    offset: 9,
                    kind: TrapKind::IntegerDivisionByZero,
                },
            ],
            wasm_offsets: vec![(0, 100), (6, 103), (12, 110)],
        };
        let mut traps = Vec::new();
        for t in &decoded.traps {
            traps.extend_from_slice(&t.offset.to_le_bytes());
            traps.push(t.kind.code());
        }
        let mut offsets = Vec::new();
        for (code, wasm) in &decoded.wasm_offsets {
            offsets.extend_from_slice(&code.to_le_bytes());
            offsets.extend_from_slice(&(wasm - 90).to_le_bytes());
        }
        // SAFETY: the vectors outlive every lookup below.
        let in_place = unsafe { InPlaceTables::new(&traps, &offsets, 90) }.unwrap();
        let in_place = Tables::InPlace(in_place);
        let decoded = Tables::Decoded(decoded);
        for offset in 0..20 {
            assert_eq!(
                in_place.trap_at(offset),
                decoded.trap_at(offset),
                "{offset}"
            );
            assert_eq!(
                in_place.wasm_offset_at(offset),
                decoded.wasm_offset_at(offset),
                "{offset}"
            );
        }
        // SAFETY: as above.
        assert!(unsafe { InPlaceTables::new(&traps[1..], &offsets, 0) }.is_none());
    }
}
