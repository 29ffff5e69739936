//! What the compiler hands to the code memory: machine code plus the side tables the
//! runtime needs (relocations to patch, trap sites, Wasm offsets for backtraces).

use crate::TrapKind;

/// How a relocation is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelocKind {
    /// x86-64 `call rel32`: `target + addend - site`, 4 bytes.
    X86CallPcRel4,
    /// aarch64 `bl imm26`: `(target + addend - site) >> 2` in the low 26 bits.
    Arm64Call,
    /// Absolute 8-byte address.
    Abs8,
}

/// A call from compiled code to another function of the same module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relocation {
    pub offset: u32,
    pub kind: RelocKind,
    /// The callee's function index.
    pub func: u32,
    pub addend: i64,
}

/// An instruction that traps on purpose, by its offset in the function's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrapSite {
    pub offset: u32,
    pub kind: TrapKind,
}

/// What the runtime needs to know about a function's code besides the bytes.
#[derive(Debug, Clone, Default)]
pub struct SideTables {
    /// Sorted by offset.
    pub traps: Vec<TrapSite>,
    /// `(code offset, Wasm module offset)` pairs sorted by code offset: the Wasm
    /// instruction that the code from that offset on belongs to.
    pub wasm_offsets: Vec<(u32, u32)>,
}

impl SideTables {
    /// The trap kind raised by the instruction at `offset`, if it is a trap site.
    pub fn trap_at(&self, offset: u32) -> Option<TrapKind> {
        self.traps
            .binary_search_by_key(&offset, |t| t.offset)
            .ok()
            .map(|i| self.traps[i].kind)
    }

    /// The Wasm module offset of the instruction whose code contains `offset`.
    pub fn wasm_offset_at(&self, offset: u32) -> Option<u32> {
        let i = self
            .wasm_offsets
            .partition_point(|(code, _)| *code <= offset);
        i.checked_sub(1).map(|i| self.wasm_offsets[i].1)
    }
}

/// One compiled function or trampoline.
#[derive(Debug, Clone, Default)]
pub struct CompiledFunction {
    pub code: Vec<u8>,
    pub relocs: Vec<Relocation>,
    pub tables: SideTables,
    /// The defined functions (by index among the defined ones) this function calls
    /// directly, each once, in the order of their first call: what it is likely to
    /// need next, for compiling ahead.
    pub callees: Vec<u32>,
}
