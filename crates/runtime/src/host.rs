//! The callee context of a host function called from Wasm: the Wasm→host trampoline
//! finds its shim at `host_ctx::SHIM` and hands it this record.

use crate::vmcontext::{VMContext, ValRaw};

/// `extern "C" fn(host_ctx, caller_vmctx, values, len) -> u32`: runs the host
/// function on `values` (arguments in, results out); 1 on success, 0 after recording
/// a failure with [`crate::record_host_failure`].
pub type HostShim =
    unsafe extern "C" fn(*mut VMHostContext, *mut VMContext, *mut ValRaw, usize) -> u32;

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
    #[test]
    fn shim_is_where_the_trampoline_loads_it() {
        assert_eq!(
            std::mem::offset_of!(super::VMHostContext, shim),
            lazuli_environ::host_ctx::SHIM as usize
        );
    }
}
