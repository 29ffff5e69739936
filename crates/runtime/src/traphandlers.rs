//! The one trap path. [`invoke`] enters Wasm through `lazuli_try_call` with an
//! [`Activation`] on this thread's stack of activations; a fault or trap
//! instruction raises a signal whose handler looks the faulting PC up in the code
//! registry and, if it is a recorded trap site, records the trap and its frames and
//! resumes at `lazuli_unwind`, which returns to `invoke`. Anything else is forwarded
//! to the previous handler.

use crate::backtrace::{Backtrace, MAX_FRAMES};
use crate::entry::{lazuli_try_call, lazuli_unwind};
use crate::signals;
use crate::thread_stack;
use crate::vmcontext::{VMContext, VMStoreContext, ValRaw};
use lazuli_environ::TrapKind;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ops::Range;

/// Why a host function called from Wasm failed.
pub enum HostFailure {
    /// It returned an error (the embedder's error value).
    Error(Box<dyn Any + Send>),
    /// It panicked; the panic resumes once Wasm has been unwound.
    Panic(Box<dyn Any + Send>),
}

/// A trap, as the runtime saw it.
pub struct TrapInfo {
    pub kind: TrapKind,
    /// Program counters of the Wasm frames, innermost first.
    pub backtrace: Backtrace,
    /// Set for [`TrapKind::HostError`].
    pub host_failure: Option<HostFailure>,
}

/// One entry into Wasm on this thread.
#[repr(C)]
struct Activation {
    /// Written by `lazuli_try_call`: must stay the first field.
    saved_sp: usize,
    previous: *const Activation,
    /// The Wasm stack limit of this thread: set by its outermost activation and
    /// shared by nested ones, whatever store they belong to.
    stack_limit: usize,
    trap: Cell<Option<TrapKind>>,
    host_failure: RefCell<Option<HostFailure>>,
    /// The store whose Wasm this activation runs.
    store: *const VMStoreContext,
    /// While its Wasm calls the host: the frame pointer of the Wasm→host
    /// trampoline it called through (0 otherwise).
    exit_fp: Cell<usize>,
}

thread_local! {
    static CURRENT: Cell<*const Activation> = const { Cell::new(std::ptr::null()) };
    /// The frames of this thread's latest trap, written by the signal handler and
    /// read by the `invoke` it unwinds to (kept out of `Activation` so that
    /// entering Wasm does not have to initialise them).
    static TRAP_FRAMES: Cell<([usize; MAX_FRAMES], usize)> = const { Cell::new(([0; MAX_FRAMES], 0)) };
}

/// Native stack kept below the Wasm stack limit for what runs there without a
/// stack check: the trampolines, the builtins (lazy compilation runs the code
/// generator there) and host functions called from Wasm at its deepest.
const HOST_STACK_RESERVE: usize = 128 * 1024;

/// The Wasm stack limit of an outermost entry whose stack pointer is `sp`:
/// `max_wasm_stack` below it, but never less than [`HOST_STACK_RESERVE`] above the
/// end of the thread's real stack (`stack`, when `sp` lies in it; for a stack the C
/// library does not know, such as a coroutine's, the budget alone decides). At
/// least 1: 0 means "no Wasm running" to the store.
fn outermost_stack_limit(sp: usize, max_wasm_stack: usize, stack: Option<Range<usize>>) -> usize {
    let budget = sp.saturating_sub(max_wasm_stack);
    let floor = stack
        .filter(|s| s.contains(&sp))
        .map_or(0, |s| s.start.saturating_add(HOST_STACK_RESERVE));
    budget.max(floor).max(1)
}

/// Calls `trampoline(callee_vmctx, caller_vmctx, code, values)` — an array-call
/// trampoline from `lazuli_cranelift` — and turns any trap into `Err`. An entry
/// whose stack pointer is already at or below the thread's Wasm stack limit (too
/// little native stack is left) runs nothing and fails with
/// [`TrapKind::StackOverflow`] and an empty backtrace.
///
/// # Safety
/// `trampoline` must be the host→Wasm trampoline for `code`'s signature, the
/// VMContexts must be fully initialised and outlive the call, `values` must hold
/// enough slots for the arguments and results, and `store` must be the store
/// context all the instances involved point to.
pub unsafe fn invoke(
    store: *mut VMStoreContext,
    max_wasm_stack: usize,
    trampoline: usize,
    callee_vmctx: *mut VMContext,
    caller_vmctx: *mut VMContext,
    code: usize,
    values: *mut ValRaw,
) -> Result<(), Box<TrapInfo>> {
    signals::install(handle_signal);
    signals::ensure_alt_stack();
    let previous = CURRENT.get();
    let here = &previous as *const _ as usize;
    let stack_limit = if previous.is_null() {
        outermost_stack_limit(here, max_wasm_stack, thread_stack::bounds())
    } else {
        // SAFETY: a non-null CURRENT is a live activation further up this stack.
        unsafe { (*previous).stack_limit }
    };
    if here <= stack_limit {
        return Err(Box::new(TrapInfo {
            kind: TrapKind::StackOverflow,
            backtrace: Backtrace::default(),
            host_failure: None,
        }));
    }
    let activation = Activation {
        saved_sp: 0,
        previous,
        stack_limit,
        trap: Cell::new(None),
        host_failure: RefCell::new(None),
        store,
        exit_fp: Cell::new(0),
    };
    // SAFETY: `store` is valid per the caller's contract. The first entry into a
    // store on this thread gives it the thread's limit; nested entries keep it.
    let first_entry = unsafe { (*store).stack_limit == 0 };
    if first_entry {
        // SAFETY: as above.
        unsafe { (*store).stack_limit = stack_limit };
    }
    CURRENT.set(&activation);
    let act_ptr = &activation as *const Activation as *mut usize;
    // SAFETY: per the caller's contract the trampoline may be called with these
    // arguments; `saved_sp` is the first field of `activation`, which outlives the
    // call, and is where `lazuli_unwind` finds the stack to return on.
    let unwound = unsafe {
        lazuli_try_call(
            act_ptr,
            trampoline,
            callee_vmctx as usize,
            caller_vmctx as usize,
            code,
            values as usize,
        )
    };
    CURRENT.set(activation.previous);
    if first_entry {
        // SAFETY: as above.
        unsafe { (*store).stack_limit = 0 };
    }
    if unwound == 0 {
        return Ok(());
    }
    let Some(kind) = activation.trap.get() else {
        // Not a guest condition to report as some trap: `lazuli_unwind` is only
        // reached from `handle_signal`, which records the kind first.
        unreachable!("unwound from Wasm without a recorded trap kind")
    };
    let (frames, num_frames) = TRAP_FRAMES.get();
    let mut backtrace = Backtrace::from_trap(&frames[..num_frames]);
    backtrace.extend(capture_backtrace(store));
    Err(Box::new(TrapInfo {
        kind,
        backtrace,
        host_failure: activation.host_failure.take(),
    }))
}

/// The Wasm frames of `store` on this thread's stack, innermost first: those of
/// each of its activations that is calling the host (from the innermost). Called
/// from a host function, the frames that led to it.
pub fn capture_backtrace(store: *const VMStoreContext) -> Backtrace {
    let mut backtrace = Backtrace::default();
    let mut current = CURRENT.get();
    while !current.is_null() {
        // SAFETY: CURRENT and each activation's `previous` are null or live
        // activations further up this thread's stack.
        let activation = unsafe { &*current };
        let exit_fp = activation.exit_fp.get();
        if activation.store == store && exit_fp != 0 {
            // SAFETY: a non-zero `exit_fp` is the frame of the trampoline through
            // which this activation is calling the host, live until that call
            // returns (`HostCall` clears it), below the activation's entry.
            unsafe { crate::backtrace::walk_exit(exit_fp, activation.saved_sp, &mut backtrace) };
        }
        current = activation.previous;
    }
    backtrace
}

/// A call from Wasm into the host, under way: the innermost activation records
/// the trampoline frame it left Wasm through, for [`capture_backtrace`], until
/// this is dropped when the host returns.
pub struct HostCall {
    previous: usize,
}

impl HostCall {
    /// Called by a host shim with the `exit_fp` its trampoline passed it.
    pub fn begin(exit_fp: usize) -> HostCall {
        HostCall {
            previous: with_current(|a| a.exit_fp.replace(exit_fp)).unwrap_or(0),
        }
    }
}

impl Drop for HostCall {
    fn drop(&mut self) {
        with_current(|a| a.exit_fp.set(self.previous));
    }
}

/// Runs `f` on this thread's innermost activation, if any.
fn with_current<R>(f: impl FnOnce(&Activation) -> R) -> Option<R> {
    let current = CURRENT.get();
    // SAFETY: a non-null CURRENT points at the live activation of an `invoke`
    // on this thread's stack.
    (!current.is_null()).then(|| f(unsafe { &*current }))
}

/// Records why the host function that is about to return failure failed. Called by
/// host shims, which then return 0 so that the trampoline traps with `HostError`.
pub fn record_host_failure(failure: HostFailure) {
    with_current(|activation| *activation.host_failure.borrow_mut() = Some(failure));
}

/// The signal handler: see the module documentation.
unsafe extern "C" fn handle_signal(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    let current = CURRENT.get();
    if !current.is_null() {
        // SAFETY: `context` is the handler's ucontext.
        let (pc, fp, sp) = unsafe { signals::registers(context) };
        if let Some(kind) = lazuli_jit::registry::trap_at(pc) {
            // SAFETY: CURRENT points at a live activation on this thread.
            let activation = unsafe { &*current };
            activation.trap.set(Some(kind));
            let mut frames = [0usize; MAX_FRAMES];
            // SAFETY: the frame chain between the faulting frame and the entry's
            // saved stack pointer is made of Wasm and trampoline frames.
            let n = unsafe { crate::backtrace::walk(pc, fp, sp, activation.saved_sp, &mut frames) };
            TRAP_FRAMES.set((frames, n));
            // SAFETY: `lazuli_unwind` only needs its argument, the activation's
            // `saved_sp` slot; it abandons the Wasm frames and returns from
            // `lazuli_try_call`.
            unsafe {
                signals::redirect(
                    context,
                    lazuli_unwind as *const () as usize,
                    current as usize,
                )
            };
            return;
        }
    }
    // SAFETY: forwarding with the handler's own arguments.
    unsafe { signals::forward(signal, info, context) }
}

#[cfg(test)]
mod tests {
    use super::{HOST_STACK_RESERVE, outermost_stack_limit};

    const KIB: usize = 1024;

    #[test]
    fn the_budget_decides_on_a_large_stack() {
        let stack = Some(0x1000_0000..0x1080_0000);
        let sp = 0x107f_0000;
        assert_eq!(outermost_stack_limit(sp, 512 * KIB, stack), sp - 512 * KIB);
    }

    #[test]
    fn the_reserve_above_the_stack_end_decides_on_a_small_stack() {
        let low = 0x1000_0000;
        let stack = Some(low..low + 256 * KIB);
        let sp = low + 250 * KIB;
        let limit = outermost_stack_limit(sp, 512 * KIB, stack);
        assert_eq!(limit, low + HOST_STACK_RESERVE);
    }

    #[test]
    fn a_stack_pointer_outside_the_known_stack_leaves_the_budget_alone() {
        let low = 0x1000_0000;
        let stack = Some(low..low + 256 * KIB);
        let sp = 0x2000_0000;
        assert_eq!(outermost_stack_limit(sp, 512 * KIB, stack), sp - 512 * KIB);
        assert_eq!(outermost_stack_limit(sp, 512 * KIB, None), sp - 512 * KIB);
    }

    #[test]
    fn the_limit_is_never_zero() {
        assert_eq!(outermost_stack_limit(4 * KIB, 512 * KIB, None), 1);
    }
}
