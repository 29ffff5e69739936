//! The bounds of the current thread's native stack, asked of the C library once per
//! thread, so that the Wasm stack limit never lies below the end of the real stack.

use std::cell::Cell;
use std::ops::Range;

thread_local! {
    /// `None` until the first query; `Some(0..0)` if the bounds are unknown.
    static BOUNDS: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

/// The usable part of this thread's stack, lowest address first, or `None` if the
/// C library cannot tell (e.g. no `/proc` for the main thread). For the main thread
/// glibc derives the size from `RLIMIT_STACK`, as the kernel does when it grows the
/// stack.
pub fn bounds() -> Option<Range<usize>> {
    let (low, high) = BOUNDS.get().unwrap_or_else(|| {
        let queried = query().unwrap_or((0, 0));
        BOUNDS.set(Some(queried));
        queried
    });
    (low < high).then_some(low..high)
}

/// Asks glibc or musl for this thread's stack: `(lowest usable address, end)`.
fn query() -> Option<(usize, usize)> {
    // SAFETY: `pthread_getattr_np` initialises `attr` on success, and it is only read
    // and destroyed after that.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let (mut addr, mut size, mut guard) = (std::ptr::null_mut(), 0, 0);
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0
            && libc::pthread_attr_getguardsize(&attr, &mut guard) == 0;
        libc::pthread_attr_destroy(&mut attr);
        if !ok {
            return None;
        }
        let start = addr as usize;
        // glibc before 2.27 counted the guard page(s) inside the reported stack,
        // later versions put them below it: skipping a guard's worth is right for
        // both.
        Some((start.checked_add(guard)?, start.checked_add(size)?))
    }
}

#[cfg(test)]
mod tests {
    use super::bounds;

    #[test]
    fn a_threads_bounds_hold_its_stack_pointer_and_its_size() {
        const SIZE: usize = 256 * 1024;
        std::thread::Builder::new()
            .stack_size(SIZE)
            .spawn(|| {
                let here = 0u8;
                let sp = &here as *const u8 as usize;
                let stack = bounds().expect("glibc knows a pthread's stack");
                assert!(stack.contains(&sp), "{stack:x?} does not hold {sp:#x}");
                assert!(
                    stack.len() <= SIZE && stack.len() > SIZE - 64 * 1024,
                    "{stack:x?}"
                );
                assert_eq!(bounds(), Some(stack), "the same bounds every time");
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
