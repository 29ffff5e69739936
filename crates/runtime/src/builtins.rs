//! The builtins table every VMContext points to, in `lazuli_environ::Builtin` order.

use crate::instance::Instance;
use crate::memory::LinearMemory;
use crate::vmcontext::VMContext;

/// Addresses of the builtins, indexed by `Builtin as usize`.
pub struct BuiltinTable([*const (); 1]);

// SAFETY: the table is immutable and holds only function addresses.
unsafe impl Sync for BuiltinTable {}

impl BuiltinTable {
    pub fn as_ptr(&self) -> *const *const () {
        self.0.as_ptr()
    }
}

pub static BUILTINS: BuiltinTable = BuiltinTable([memory_grow as *const ()]);

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

#[cfg(test)]
mod tests {
    #[test]
    fn table_has_an_entry_per_builtin() {
        assert_eq!(super::BUILTINS.0.len(), lazuli_environ::Builtin::ALL.len());
    }
}
