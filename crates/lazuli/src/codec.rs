//! The byte encoding of compiled functions, shared by the code cache's entries
//! and precompiled modules: the code, its relocations, trap sites, Wasm offsets
//! (relative to the function's body, which may sit elsewhere in another module)
//! and direct callees, each a `u32` count then its items, little-endian.
//!
//! Decoding checks everything against the function it is for ([`Bounds`]), so
//! that no input can make the loader read or patch outside the code.

use lazuli_environ::{
    CompiledFunction, ModuleInfo, RelocKind, Relocation, SideTables, TrapKind, TrapSite,
};
use lazuli_jit::{OFFSET_RECORD, TRAP_RECORD};

/// What a decoded function's tables may refer to.
#[derive(Clone, Copy)]
pub(crate) struct Bounds {
    /// Functions in the module (relocation targets are function indices).
    pub(crate) functions: u32,
    /// Defined functions (callees are defined indices).
    pub(crate) defined: u32,
    /// Where the function's body starts in the module, and its length.
    pub(crate) body_start: u32,
    pub(crate) body_len: u32,
}

impl Bounds {
    /// A trampoline's: it calls no function of a module and has no Wasm offsets
    /// (a lazy-compile stub's relocation is the index its copies patch in).
    pub(crate) const TRAMPOLINE: Bounds = Bounds {
        functions: u32::MAX,
        defined: 0,
        body_start: 0,
        body_len: 0,
    };

    /// The bounds of defined function `defined` of `info`.
    pub(crate) fn of(info: &ModuleInfo, defined: u32) -> Bounds {
        let body = &info.bodies[defined as usize].range;
        Bounds {
            functions: info.functions.len() as u32,
            defined: info.num_defined_funcs(),
            body_start: body.start as u32,
            body_len: body.len() as u32,
        }
    }
}

/// Appends `func`, compiled from a body at `body_start`, to `w`.
pub(crate) fn encode(w: &mut Vec<u8>, func: &CompiledFunction, body_start: u32) {
    put_u32(w, func.code.len() as u32);
    w.extend_from_slice(&func.code);
    put_u32(w, func.relocs.len() as u32);
    for r in &func.relocs {
        put_u32(w, r.offset);
        w.push(reloc_code(r.kind));
        put_u32(w, r.func);
        w.extend_from_slice(&r.addend.to_le_bytes());
    }
    encode_tables(w, &func.tables, body_start);
    put_u32(w, func.callees.len() as u32);
    for c in &func.callees {
        put_u32(w, *c);
    }
}

/// Appends the trap sites and Wasm offsets of a function compiled from a body at
/// `body_start` to `w`.
pub(crate) fn encode_tables(w: &mut Vec<u8>, tables: &SideTables, body_start: u32) {
    put_u32(w, tables.traps.len() as u32);
    put_trap_records(w, tables);
    put_u32(w, tables.wasm_offsets.len() as u32);
    put_offset_records(w, tables, body_start);
}

/// Appends the trap site records of `tables` to `w`, without their count.
pub(crate) fn put_trap_records(w: &mut Vec<u8>, tables: &SideTables) {
    for t in &tables.traps {
        put_u32(w, t.offset);
        w.push(t.kind.code());
    }
}

/// Appends the Wasm offset records of `tables` to `w`, without their count, the
/// offsets made relative to `body_start`.
pub(crate) fn put_offset_records(w: &mut Vec<u8>, tables: &SideTables, body_start: u32) {
    for (code, wasm) in &tables.wasm_offsets {
        put_u32(w, *code);
        put_u32(w, wasm.saturating_sub(body_start));
    }
}

/// The trap site and Wasm offset records [`encode_tables`] wrote, taken off `r`
/// as they lie (their layouts are `lazuli_jit::TRAP_RECORD` and
/// `OFFSET_RECORD`), for reading in place.
pub(crate) fn table_records<'a>(r: &mut Reader<'a>) -> Option<(&'a [u8], &'a [u8])> {
    let traps = r.u32()? as usize;
    let traps = r.take(traps.checked_mul(TRAP_RECORD)?)?;
    let offsets = r.u32()? as usize;
    let offsets = r.take(offsets.checked_mul(OFFSET_RECORD)?)?;
    Some((traps, offsets))
}

/// Appends `v` to `w`, little-endian.
pub(crate) fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_le_bytes());
}

/// Reads one function encoded by [`encode`] off `r`, if it is well formed and
/// fits `bounds`; its Wasm offsets made absolute again.
pub(crate) fn decode(r: &mut Reader<'_>, bounds: &Bounds) -> Option<CompiledFunction> {
    check(read(r)?, bounds)
}

fn read(r: &mut Reader<'_>) -> Option<CompiledFunction> {
    let code_len = r.u32()? as usize;
    let code = r.take(code_len)?.to_vec();
    let relocs = r.list(|r| {
        Some(Relocation {
            offset: r.u32()?,
            kind: reloc_kind(r.take(1)?[0])?,
            func: r.u32()?,
            addend: i64::from_le_bytes(r.take(8)?.try_into().ok()?),
        })
    })?;
    let tables = read_tables(r)?;
    let callees = r.list(Reader::u32)?;
    Some(CompiledFunction {
        code,
        relocs,
        tables,
        callees,
    })
}

/// The tables [`encode_tables`] wrote, decoded from their records.
fn read_tables(r: &mut Reader<'_>) -> Option<SideTables> {
    let (traps, offsets) = table_records(r)?;
    let u32_at = |record: &[u8], at: usize| {
        u32::from_le_bytes([record[at], record[at + 1], record[at + 2], record[at + 3]])
    };
    let traps = traps.chunks_exact(TRAP_RECORD).map(|t| {
        Some(TrapSite {
            offset: u32_at(t, 0),
            kind: TrapKind::from_code(t[4])?,
        })
    });
    let offsets = offsets.chunks_exact(OFFSET_RECORD);
    Some(SideTables {
        traps: traps.collect::<Option<_>>()?,
        wasm_offsets: offsets.map(|o| (u32_at(o, 0), u32_at(o, 4))).collect(),
    })
}

/// Whether `tables`' trap sites and Wasm offsets, in order, stay inside a
/// function of `len` bytes and its body.
fn tables_fit(tables: &SideTables, len: u64, bounds: &Bounds) -> bool {
    let traps = &tables.traps;
    let traps_fit = traps.windows(2).all(|w| w[0].offset < w[1].offset)
        && traps.iter().all(|t| u64::from(t.offset) < len);
    let offsets = &tables.wasm_offsets;
    let offsets_fit = offsets.windows(2).all(|w| w[0].0 <= w[1].0)
        && offsets
            .iter()
            .all(|(code, wasm)| u64::from(*code) <= len && *wasm <= bounds.body_len);
    traps_fit && offsets_fit
}

/// `func` if everything in it stays inside its code and module; its Wasm offsets
/// rebased from the body to the module.
fn check(mut func: CompiledFunction, bounds: &Bounds) -> Option<CompiledFunction> {
    let len = func.code.len() as u64;
    let relocs_fit = func
        .relocs
        .iter()
        .all(|r| u64::from(r.offset) + reloc_width(r.kind) <= len && r.func < bounds.functions);
    let tables_fit = tables_fit(&func.tables, len, bounds);
    let callees_fit = func.callees.iter().all(|c| *c < bounds.defined);
    if !(relocs_fit && tables_fit && callees_fit) {
        return None;
    }
    rebase(&mut func.tables, bounds);
    Some(func)
}

/// Makes `tables`' Wasm offsets, relative to the body, relative to the module.
fn rebase(tables: &mut SideTables, bounds: &Bounds) {
    for (_, wasm) in &mut tables.wasm_offsets {
        *wasm += bounds.body_start;
    }
}

fn reloc_code(kind: RelocKind) -> u8 {
    match kind {
        RelocKind::X86CallPcRel4 => 0,
        RelocKind::Arm64Call => 1,
        RelocKind::Abs8 => 2,
    }
}

fn reloc_kind(code: u8) -> Option<RelocKind> {
    [
        RelocKind::X86CallPcRel4,
        RelocKind::Arm64Call,
        RelocKind::Abs8,
    ]
    .get(usize::from(code))
    .copied()
}

fn reloc_width(kind: RelocKind) -> u64 {
    match kind {
        RelocKind::X86CallPcRel4 | RelocKind::Arm64Call => 4,
        RelocKind::Abs8 => 8,
    }
}

/// Reads little-endian fields off the front of a byte slice.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    /// A `u32` length, then that many bytes.
    pub(crate) fn list_bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    /// A count, then that many items read by `item`; a count larger than the
    /// bytes left could hold is refused before anything is allocated.
    pub(crate) fn list<T>(&mut self, item: impl Fn(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let n = self.u32()? as usize;
        if n > self.0.len() {
            return None;
        }
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(item(self)?);
        }
        Some(items)
    }
}
