//! Wasm backtraces: the handler walks the frame-pointer chain (Cranelift keeps frame
//! pointers) from the faulting frame up to the host entry and keeps the PCs;
//! symbolication happens later, outside the handler.

use lazuli_jit::FrameInfo;

/// At most this many frames are kept (the innermost ones).
pub const MAX_FRAMES: usize = 64;

/// The code addresses of a trap's Wasm frames, innermost first: the faulting PC,
/// then each return address less one (so that it lies in the call).
#[derive(Debug, Clone, Default)]
pub struct Backtrace {
    pcs: Vec<usize>,
}

impl Backtrace {
    /// From a faulting PC followed by the return addresses above it.
    pub(crate) fn from_trap(pcs: &[usize]) -> Self {
        let returns = pcs.iter().skip(1).map(|pc| pc.saturating_sub(1));
        Backtrace {
            pcs: pcs.first().copied().into_iter().chain(returns).collect(),
        }
    }

    /// Appends the frames of `outer`, which called the code of these.
    pub(crate) fn extend(&mut self, outer: Backtrace) {
        self.pcs.extend(outer.pcs);
    }

    /// The Wasm frames, resolved through the code registry; trampolines are skipped.
    pub fn frames(&self) -> Vec<FrameInfo> {
        self.pcs
            .iter()
            .filter_map(|pc| lazuli_jit::registry::frame_at(*pc))
            .collect()
    }
}

/// Appends to `out` the frames above the Wasm→host trampoline whose frame
/// pointer is `exit_fp`, up to the entry at `entry_sp`: the Wasm frames of an
/// activation that is calling the host.
///
/// # Safety
/// `exit_fp` must be the frame pointer of a live trampoline frame on this
/// thread's stack, below `entry_sp`.
pub(crate) unsafe fn walk_exit(exit_fp: usize, entry_sp: usize, out: &mut Backtrace) {
    // SAFETY: per the contract, `exit_fp` addresses a live frame record: the
    // caller's frame pointer, then the return address into the caller.
    let (caller_fp, ret) =
        unsafe { (*(exit_fp as *const usize), *((exit_fp + 8) as *const usize)) };
    let mut frames = [0usize; MAX_FRAMES];
    // SAFETY: the caller's frames lie between the trampoline's and the entry.
    let n = unsafe { walk(ret, caller_fp, exit_fp, entry_sp, &mut frames) };
    out.pcs
        .extend(frames[..n].iter().map(|pc| pc.saturating_sub(1)));
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
