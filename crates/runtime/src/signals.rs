//! Installing the process-wide signal handlers and the per-thread alternate signal
//! stack, and forwarding faults that are not Wasm traps to whoever handled them
//! before us.

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::sync::Once;

/// The signals a Wasm trap can raise.
const SIGNALS: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

/// The handlers that were installed before ours, in `SIGNALS` order.
static mut PREVIOUS: [MaybeUninit<libc::sigaction>; 4] = [MaybeUninit::uninit(); 4];
static INSTALL: Once = Once::new();

/// The handler's own needs are small; this leaves room for the registry lookup.
const ALT_STACK_SIZE: usize = 64 * 1024;

/// The signature of a `SA_SIGINFO` handler.
pub type Handler = unsafe extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);

/// Installs `handler` for every trap signal, once per process.
pub fn install(handler: Handler) {
    INSTALL.call_once(|| {
        for (i, signal) in SIGNALS.iter().enumerate() {
            // SAFETY: a fully initialised action; `Once` makes this the only writer
            // of PREVIOUS, which is filled before our handler can forward to it.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = handler as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
                libc::sigemptyset(&mut action.sa_mask);
                let previous = &raw mut PREVIOUS[i];
                if libc::sigaction(*signal, &action, (*previous).as_mut_ptr()) != 0 {
                    panic!("cannot install the handler for signal {signal}");
                }
            }
        }
    });
}

/// Hands a fault we do not own to the handler that was installed before ours. With
/// no such handler the default action is restored, so re-executing the faulting
/// instruction ends the process as if Lazuli were not there.
///
/// # Safety
/// Must be called from our signal handler with the arguments it received.
pub unsafe fn forward(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let Some(i) = SIGNALS.iter().position(|s| *s == signal) else {
        return;
    };
    // SAFETY: `install` initialised every slot before our handler could run.
    let previous = unsafe { (&raw const PREVIOUS[i]).read().assume_init() };
    let target = previous.sa_sigaction;
    if target == libc::SIG_DFL || target == libc::SIG_IGN {
        // SAFETY: restoring the default disposition with a zeroed action.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was registered as a SA_SIGINFO handler.
        unsafe {
            let handler: Handler = std::mem::transmute(target);
            handler(signal, info, context);
        }
    } else {
        // SAFETY: the previous handler was registered as a plain handler.
        unsafe {
            let handler: extern "C" fn(libc::c_int) = std::mem::transmute(target);
            handler(signal);
        }
    }
}

/// An alternate signal stack this thread allocated; freed when the thread exits.
struct AltStack {
    base: *mut libc::c_void,
    len: usize,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        // SAFETY: disable the alternate stack before unmapping the pages we mapped.
        unsafe {
            let mut disable: libc::stack_t = std::mem::zeroed();
            disable.ss_flags = libc::SS_DISABLE;
            libc::sigaltstack(&disable, std::ptr::null_mut());
            libc::munmap(self.base, self.len);
        }
    }
}

thread_local! {
    static ALT_STACK_READY: Cell<bool> = const { Cell::new(false) };
    static ALT_STACK: Cell<Option<AltStack>> = const { Cell::new(None) };
}

/// Makes sure this thread has an alternate signal stack big enough for the handler,
/// so that a fault near the end of the stack can still be handled.
pub fn ensure_alt_stack() {
    if ALT_STACK_READY.get() {
        return;
    }
    ALT_STACK_READY.set(true);
    // SAFETY: querying the current alternate stack into a zeroed record.
    let current = unsafe {
        let mut current: libc::stack_t = std::mem::zeroed();
        libc::sigaltstack(std::ptr::null(), &mut current);
        current
    };
    if current.ss_flags & libc::SS_DISABLE == 0 && current.ss_size >= ALT_STACK_SIZE {
        return;
    }
    // SAFETY: a fresh anonymous mapping becomes this thread's alternate stack; it
    // is released by `AltStack::drop` when the thread exits.
    unsafe {
        let base = libc::mmap(
            std::ptr::null_mut(),
            ALT_STACK_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANON,
            -1,
            0,
        );
        if base == libc::MAP_FAILED {
            return;
        }
        let stack = libc::stack_t {
            ss_sp: base,
            ss_flags: 0,
            ss_size: ALT_STACK_SIZE,
        };
        if libc::sigaltstack(&stack, std::ptr::null_mut()) != 0 {
            libc::munmap(base, ALT_STACK_SIZE);
            return;
        }
        ALT_STACK.set(Some(AltStack {
            base,
            len: ALT_STACK_SIZE,
        }));
    }
}

/// Program counter, frame pointer and stack pointer of a signal context.
///
/// # Safety
/// `context` must be the `ucontext_t` a signal handler received.
pub unsafe fn registers(context: *mut libc::c_void) -> (usize, usize, usize) {
    let uc = context as *mut libc::ucontext_t;
    // SAFETY: the kernel passes a valid ucontext_t to SA_SIGINFO handlers.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        {
            let g = &(*uc).uc_mcontext.gregs;
            (
                g[libc::REG_RIP as usize] as usize,
                g[libc::REG_RBP as usize] as usize,
                g[libc::REG_RSP as usize] as usize,
            )
        }
        #[cfg(target_arch = "aarch64")]
        {
            let m = &(*uc).uc_mcontext;
            (m.pc as usize, m.regs[29] as usize, m.sp as usize)
        }
    }
}

/// Makes the interrupted thread resume at `pc` with `arg` as first argument.
///
/// # Safety
/// `context` must be the `ucontext_t` a signal handler received, and resuming at
/// `pc` with the interrupted stack must be valid.
pub unsafe fn redirect(context: *mut libc::c_void, pc: usize, arg: usize) {
    let uc = context as *mut libc::ucontext_t;
    // SAFETY: as above; the kernel restores these registers on return.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        {
            let g = &mut (*uc).uc_mcontext.gregs;
            g[libc::REG_RIP as usize] = pc as i64;
            g[libc::REG_RDI as usize] = arg as i64;
        }
        #[cfg(target_arch = "aarch64")]
        {
            let m = &mut (*uc).uc_mcontext;
            m.pc = pc as u64;
            m.regs[0] = arg as u64;
        }
    }
}
