//! How linear memories are laid out, in Lazuli's terms ([`MemoryStyle`]) and in
//! Wasmtime's (a reservation and a guard region, signals-based traps,
//! copy-on-write initialisation).
//!
//! Lazuli's memories come in two styles. A guarded memory reserves 8 GiB +
//! 64 KiB, so that any 32-bit index plus any offset lands in the reservation and
//! generated code checks nothing; a bounds-checked memory reserves its maximum
//! (its declared maximum, else 4 GiB) and code checks every access. Memories
//! never move. Wasmtime's two sizes choose between the styles: a memory is
//! guarded when the reservation holds every 32-bit memory (4 GiB) and the guard
//! after it covers every offset (the two together at least 8 GiB), otherwise it
//! is bounds-checked. The sizes themselves are not otherwise used: a guarded
//! memory always reserves 8 GiB + 64 KiB (the 64 KiB covering the widest access
//! at the largest offset), a bounds-checked one its maximum.

use super::Config;
use lazuli_runtime::MemoryStyle;

/// The reservation [`MemoryStyle::Guarded`] stands for: every 32-bit memory.
pub(super) const GUARDED_RESERVATION: u64 = 1 << 32;
/// The guard [`MemoryStyle::Guarded`] stands for: every 32-bit offset.
pub(super) const GUARDED_GUARD_SIZE: u64 = 1 << 32;

impl Config {
    /// How linear-memory accesses are kept in bounds: guard pages (default) or
    /// explicit checks in generated code. This sets both
    /// [`Config::memory_reservation`] and [`Config::memory_guard_size`]: 4 GiB
    /// each for [`MemoryStyle::Guarded`], 0 for [`MemoryStyle::BoundsChecked`];
    /// the last of these three calls decides.
    pub fn memory_style(&mut self, style: MemoryStyle) -> &mut Self {
        (self.memory_reservation, self.memory_guard_size) = match style {
            MemoryStyle::Guarded => (GUARDED_RESERVATION, GUARDED_GUARD_SIZE),
            MemoryStyle::BoundsChecked => (0, 0),
        };
        self
    }

    /// Wasmtime's reservation of address space for each memory, in bytes
    /// (default 4 GiB). With at least 4 GiB, and a
    /// [`Config::memory_guard_size`] that brings the two to 8 GiB, memories are
    /// [`MemoryStyle::Guarded`]; with less they are
    /// [`MemoryStyle::BoundsChecked`], each still reserving its whole maximum
    /// since Lazuli never moves a memory (so growth up to the maximum works).
    pub fn memory_reservation(&mut self, bytes: u64) -> &mut Self {
        self.memory_reservation = bytes;
        self
    }

    /// Wasmtime's guard region after each memory's reservation, in bytes
    /// (default 4 GiB): with a [`Config::memory_reservation`] of at least 4 GiB
    /// and the two adding up to 8 GiB, memories are [`MemoryStyle::Guarded`],
    /// otherwise [`MemoryStyle::BoundsChecked`].
    pub fn memory_guard_size(&mut self, bytes: u64) -> &mut Self {
        self.memory_guard_size = bytes;
        self
    }

    /// Whether Wasm may rely on the signal handler for memory accesses (default:
    /// yes). Off, every memory is [`MemoryStyle::BoundsChecked`], whatever the
    /// other memory settings, so no access relies on a guard region. Lazuli
    /// cannot run without its signal handlers, though: an explicit bounds check
    /// that fails sends the access to address 0, whose fault is the trap, and
    /// every other trap — `unreachable`, division by zero, a failed
    /// `call_indirect`, running out of stack (the prologue's stack-limit check),
    /// fuel or epoch interruption — is a trap instruction that raises a signal,
    /// which the handler turns into a [`crate::Trap`].
    pub fn signals_based_traps(&mut self, enable: bool) -> &mut Self {
        self.signals_based_traps = enable;
        self
    }

    /// Whether a module's data segments are mapped copy-on-write into each new
    /// instance's memory from an image made once per module (default: yes;
    /// only for a module whose segments cannot trap, see `segments.rs`). Off,
    /// every instantiation copies the segments into its memory. The contents are
    /// the same either way.
    pub fn memory_init_cow(&mut self, enable: bool) -> &mut Self {
        self.memory_init_cow = enable;
        self
    }

    /// The style of every memory the engine creates, from the settings above.
    pub(crate) fn effective_memory_style(&self) -> MemoryStyle {
        let covered = self
            .memory_reservation
            .saturating_add(self.memory_guard_size);
        let guarded = self.signals_based_traps
            && self.memory_reservation >= GUARDED_RESERVATION
            && covered >= GUARDED_RESERVATION + GUARDED_GUARD_SIZE;
        match guarded {
            true => MemoryStyle::Guarded,
            false => MemoryStyle::BoundsChecked,
        }
    }
}
