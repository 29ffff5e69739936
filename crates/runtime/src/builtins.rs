//! The builtins table every VMContext points to, in `lazuli_environ::Builtin` order.

use crate::instance::{Instance, ensure_compiled};
use crate::memory::LinearMemory;
use crate::traphandlers::{HostFailure, record_host_failure};
use crate::vmcontext::{VMContext, VMFuncRef};

/// Addresses of the builtins, indexed by `Builtin as usize`.
pub struct BuiltinTable([*const (); 2]);

// SAFETY: the table is immutable and holds only function addresses.
unsafe impl Sync for BuiltinTable {}

impl BuiltinTable {
    pub fn as_ptr(&self) -> *const *const () {
        self.0.as_ptr()
    }
}

pub static BUILTINS: BuiltinTable =
    BuiltinTable([memory_grow as *const (), lazy_compile as *const ()]);

/// `memory.grow`: the old size in pages, or -1 if the memory cannot grow by `delta`.
unsafe extern "C" fn memory_grow(vmctx: *mut VMContext, memory: u32, delta: u64) -> i64 {
    // SAFETY: generated code passes its own, live VMContext.
    let instance = unsafe { Instance::from_vmctx(vmctx) };
    let definition = instance.memory(memory);
    // SAFETY: every memory definition a VMContext points to is the first field of a
    // live `LinearMemory` owned by the same store.
    let memory = unsafe { &mut *(definition as *mut LinearMemory) };
    memory.grow(delta).map_or(-1, |old| old as i64)
}

/// Compiles the function behind `func_ref` on its first call; 0 after recording
/// the compile error, which the caller turns into a trap.
unsafe extern "C" fn lazy_compile(_vmctx: *mut VMContext, func_ref: *mut VMFuncRef) -> usize {
    // SAFETY: generated code passes a funcref of a live instance of this store.
    match unsafe { ensure_compiled(func_ref) } {
        Ok(address) => address,
        Err(error) => {
            record_host_failure(HostFailure::Error(error));
            0
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_has_an_entry_per_builtin() {
        assert_eq!(super::BUILTINS.0.len(), lazuli_environ::Builtin::ALL.len());
    }
}
