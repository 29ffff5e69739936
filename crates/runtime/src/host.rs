//! The callee context of a host function called from Wasm: the Wasm→host trampoline
//! finds its shim at `host_ctx::SHIM` and hands it this record.

use crate::vmcontext::{VMContext, ValRaw};

/// `extern "C" fn(host_ctx, caller_vmctx, values, len, exit_fp) -> u32`: runs the
/// host function on `values` (arguments in, results out); 1 on success, 0 after
/// recording a failure with [`crate::record_host_failure`]. `exit_fp` is the
/// frame pointer of the trampoline that called it, for [`crate::HostCall`].
pub type HostShim =
    unsafe extern "C" fn(*mut VMHostContext, *mut VMContext, *mut ValRaw, usize, usize) -> u32;

/// The "vmctx" of a host function.
#[repr(C)]
pub struct VMHostContext {
    /// Must stay the first field (`host_ctx::SHIM`).
    pub shim: HostShim,
    /// The embedder's data for the shim (its closure and store).
    pub data: *mut (),
}

#[cfg(test)]
mod tests {
    use super::VMHostContext;
    use lazuli_environ::host_ctx;
    use std::mem::{offset_of, size_of};

    #[test]
    fn host_context_matches_host_ctx() {
        assert_eq!(offset_of!(VMHostContext, shim), host_ctx::SHIM as usize);
        assert_eq!(offset_of!(VMHostContext, data), host_ctx::DATA as usize);
        assert_eq!(size_of::<VMHostContext>(), host_ctx::SIZE as usize);
    }
}
