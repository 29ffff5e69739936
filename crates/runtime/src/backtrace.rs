//! Wasm backtraces: the handler walks the frame-pointer chain (Cranelift keeps frame
//! pointers) from the faulting frame up to the host entry and keeps the PCs;
//! symbolication happens later, outside the handler.

use lazuli_jit::FrameInfo;

/// At most this many frames are kept (the innermost ones).
pub const MAX_FRAMES: usize = 64;

/// The PCs of a trap's Wasm frames, innermost first.
#[derive(Debug, Clone, Default)]
pub struct Backtrace {
    pcs: Vec<usize>,
}

impl Backtrace {
    pub(crate) fn new(pcs: &[usize]) -> Self {
        Backtrace { pcs: pcs.to_vec() }
    }

    /// The Wasm frames, resolved through the code registry; trampolines are skipped.
    pub fn frames(&self) -> Vec<FrameInfo> {
        self.pcs
            .iter()
            .enumerate()
            .filter_map(|(i, pc)| {
                // A return address points after the call; look up the call itself.
                let pc = if i == 0 { *pc } else { pc.saturating_sub(1) };
                lazuli_jit::registry::frame_at(pc)
            })
            .collect()
    }
}

/// Collects `pc` and the return addresses of the frames above it whose frame
/// pointers lie between `sp` and `entry_sp`. Returns how many were written.
///
/// # Safety
/// The stack between `sp` and `entry_sp` must be readable, as it is while the
/// trapping thread is stopped in the signal handler.
pub(crate) unsafe fn walk(
    pc: usize,
    mut fp: usize,
    sp: usize,
    entry_sp: usize,
    out: &mut [usize],
) -> usize {
    let mut n = 0;
    out[n] = pc;
    n += 1;
    while n < out.len() && fp >= sp && fp < entry_sp && fp.is_multiple_of(8) {
        // SAFETY: `fp` lies inside the live stack range checked above; a frame
        // record is (previous fp, return address).
        let (next, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if !lazuli_jit::registry::is_code(ret) {
            break;
        }
        out[n] = ret;
        n += 1;
        if next <= fp {
            break;
        }
        fp = next;
    }
    n
}
