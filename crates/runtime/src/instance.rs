//! [`Instance`]: one instance's VMContext allocation and typed access to its fields.

use crate::builtins::BUILTINS;
use crate::vmcontext::{
    VMContext, VMFuncRef, VMFuncSlot, VMGlobalDefinition, VMMemoryDefinition, VMStoreContext,
    VMTableDefinition,
};
use lazuli_environ::{VMCONTEXT_MAGIC, VMOffsets};
use std::alloc::Layout;
use std::any::Any;
use std::cell::RefCell;
use std::ptr::NonNull;
use std::sync::Arc;

/// Owns a VMContext laid out by [`VMOffsets`]. Boxed so that the back-pointer
/// stored in the VMContext stays valid.
pub struct Instance {
    offsets: VMOffsets,
    vmctx: NonNull<u8>,
    layout: Layout,
    code: Arc<dyn ModuleCode>,
    /// Element segments as funcref addresses; emptied by `elem.drop`.
    elements: RefCell<Vec<Vec<*const VMFuncRef>>>,
    /// Which data segments `data.drop` has dropped.
    dropped_data: RefCell<Vec<bool>>,
}

/// What an instance needs from its module at run time.
pub trait ModuleCode: Send + Sync {
    /// The entry address of function `func_index`, compiling it and publishing it in
    /// its dispatch slot first if that is not done yet. Errors are the embedder's
    /// error values.
    fn compile(&self, func_index: u32) -> Result<usize, Box<dyn Any + Send>>;
    /// Function `func_index` used up its tier-up budget in fast-tier code: have it
    /// recompiled optimised (now or in the background) and published in its slot.
    /// Never fails; a function that cannot be optimised keeps its fast code.
    fn tier_up(&self, func_index: u32);
    /// The entry of function `func_index`'s optimised code at its loop
    /// `loop_index`, for its fast code to continue in (OSR), or 0 if there is none
    /// (yet: asks for it, and for the function's tier-up). Never fails.
    fn osr_entry(&self, func_index: u32, loop_index: u32) -> usize;
    /// The module's dispatch slots, one per defined function; they live as long as
    /// the module, so at least as long as its instances.
    fn func_slots(&self) -> *const VMFuncSlot;
    /// The engine-wide signature id of each of the module's types, which
    /// `call_indirect` reads (`VMOffsets::TYPE_IDS`); lives as long as the module.
    fn type_ids(&self) -> *const u32;
    /// The bytes of data segment `index`.
    fn data_segment(&self, index: u32) -> &[u8];
}

// SAFETY: the VMContext is plain memory owned by this value; the store that owns
// the instance decides which thread uses it.
unsafe impl Send for Instance {}

impl Instance {
    /// Allocates a zeroed VMContext for `offsets` belonging to `store`.
    pub fn new(
        offsets: VMOffsets,
        store: *mut VMStoreContext,
        code: Arc<dyn ModuleCode>,
    ) -> Box<Instance> {
        let layout = Layout::from_size_align(offsets.size().max(16) as usize, 16)
            .expect("VMContext sizes are small multiples of 16");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let Some(vmctx) = NonNull::new(ptr) else {
            std::alloc::handle_alloc_error(layout)
        };
        let instance = Box::new(Instance {
            offsets,
            vmctx,
            layout,
            code,
            elements: RefCell::new(Vec::new()),
            dropped_data: RefCell::new(Vec::new()),
        });
        instance.write(offsets.magic(), VMCONTEXT_MAGIC);
        instance.write(offsets.store_ctx(), store);
        instance.write(offsets.builtins(), BUILTINS.as_ptr());
        instance.write(VMOffsets::INSTANCE, &*instance as *const Instance);
        instance.write(VMOffsets::FUNC_SLOTS, instance.code.func_slots());
        instance.write(VMOffsets::TYPE_IDS, instance.code.type_ids());
        instance
    }

    /// The store context this instance's VMContext points to.
    pub fn store_context(&self) -> *mut VMStoreContext {
        self.read(self.offsets.store_ctx())
    }

    /// The VMContext pointer generated code receives.
    pub fn vmctx(&self) -> *mut VMContext {
        self.vmctx.as_ptr().cast()
    }

    pub fn offsets(&self) -> &VMOffsets {
        &self.offsets
    }

    /// The instance that owns `vmctx`.
    ///
    /// # Safety
    /// `vmctx` must be the VMContext of a live instance.
    pub unsafe fn from_vmctx<'a>(vmctx: *mut VMContext) -> &'a Instance {
        // SAFETY: per the contract, the field holds the owning instance's address.
        unsafe {
            &**(vmctx.cast::<u8>().add(VMOffsets::INSTANCE as usize) as *const *const Instance)
        }
    }

    fn write<T>(&self, offset: u32, value: T) {
        assert!(offset as usize + size_of::<T>() <= self.layout.size());
        // SAFETY: the write is inside the allocation (checked above) and every field
        // offset is aligned for its type by `VMOffsets`.
        unsafe { (self.vmctx.as_ptr().add(offset as usize) as *mut T).write(value) }
    }

    fn read<T: Copy>(&self, offset: u32) -> T {
        assert!(offset as usize + size_of::<T>() <= self.layout.size());
        // SAFETY: as for `write`; the memory is initialised (zeroed at allocation).
        unsafe { (self.vmctx.as_ptr().add(offset as usize) as *const T).read() }
    }

    fn field<T>(&self, offset: u32) -> *mut T {
        assert!(offset as usize + size_of::<T>() <= self.layout.size());
        // SAFETY: in bounds, checked above.
        unsafe { self.vmctx.as_ptr().add(offset as usize).cast() }
    }

    pub fn set_table(&self, i: u32, table: *mut VMTableDefinition) {
        self.write(self.offsets.table(i), table);
    }

    pub fn table(&self, i: u32) -> *mut VMTableDefinition {
        self.read(self.offsets.table(i))
    }

    pub fn set_memory(&self, i: u32, memory: *mut VMMemoryDefinition) {
        self.write(self.offsets.memory(i), memory);
    }

    pub fn memory(&self, i: u32) -> *mut VMMemoryDefinition {
        self.read(self.offsets.memory(i))
    }

    pub fn set_imported_global(&self, i: u32, global: *mut VMGlobalDefinition) {
        self.write(self.offsets.imported_global(i), global);
    }

    /// Storage of global `index` (imported or defined, given the import count).
    pub fn global(&self, index: u32) -> *mut VMGlobalDefinition {
        if index < self.offsets.num_imported_globals {
            self.read(self.offsets.imported_global(index))
        } else {
            self.field(
                self.offsets
                    .defined_global(index - self.offsets.num_imported_globals),
            )
        }
    }

    /// Sets the evaluated element segments (active and declared ones empty).
    pub fn set_element_segments(&self, segments: Vec<Vec<*const VMFuncRef>>) {
        *self.elements.borrow_mut() = segments;
    }

    /// Items of element segment `index` (empty once dropped).
    pub fn element_segment(&self, index: u32) -> Vec<*const VMFuncRef> {
        self.elements
            .borrow()
            .get(index as usize)
            .cloned()
            .unwrap_or_default()
    }

    /// `elem.drop`.
    pub fn drop_element_segment(&self, index: u32) {
        if let Some(items) = self.elements.borrow_mut().get_mut(index as usize) {
            *items = Vec::new();
        }
    }

    /// Bytes of data segment `index` (empty once dropped).
    pub fn data_segment(&self, index: u32) -> &[u8] {
        if self.dropped_data.borrow().get(index as usize) == Some(&true) {
            return &[];
        }
        self.code.data_segment(index)
    }

    /// `data.drop`.
    pub fn drop_data_segment(&self, index: u32) {
        let mut dropped = self.dropped_data.borrow_mut();
        if dropped.len() <= index as usize {
            dropped.resize(index as usize + 1, false);
        }
        dropped[index as usize] = true;
    }

    /// Compiles function `func_index` of this instance's module unless that is done
    /// already; returns the entry address its dispatch slot now holds.
    pub fn compile_function(&self, func_index: u32) -> Result<usize, Box<dyn Any + Send>> {
        self.code.compile(func_index)
    }

    /// See [`ModuleCode::tier_up`].
    pub fn tier_up(&self, func_index: u32) {
        self.code.tier_up(func_index)
    }

    /// See [`ModuleCode::osr_entry`].
    pub fn osr_entry(&self, func_index: u32, loop_index: u32) -> usize {
        self.code.osr_entry(func_index, loop_index)
    }

    /// The funcref record of function `i`.
    pub fn func_ref(&self, i: u32) -> *mut VMFuncRef {
        self.field(self.offsets.func_ref(i))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.vmctx.as_ptr(), self.layout) }
    }
}
