//! The process-wide code registry: which address ranges hold Lazuli code, which
//! function each address belongs to, and which instructions are trap sites.
//!
//! The signal handler reads it (`trap_at`), so lookups take only a read lock and
//! never allocate.

use crate::Tables;
use lazuli_environ::{ModuleInfo, TrapKind};
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, PoisonError, RwLock};

/// A registered function: its code range and side tables.
#[derive(Debug)]
pub struct FunctionInfo {
    pub range: Range<usize>,
    /// The Wasm function index; `None` for trampolines.
    pub func_index: Option<u32>,
    /// Trap sites and Wasm offsets, relative to `range.start`.
    pub tables: Tables,
}

/// One registered region of code: functions of one module (or trampolines).
#[derive(Debug)]
struct Region {
    end: usize,
    functions: Vec<FunctionInfo>,
    module: Option<Arc<ModuleInfo>>,
}

/// One frame of a Wasm backtrace, resolved from a program counter.
#[derive(Debug, Clone)]
pub struct FrameInfo {
    pub func_index: u32,
    pub wasm_offset: Option<u32>,
    pub module: Option<Arc<ModuleInfo>>,
}

static REGISTRY: RwLock<BTreeMap<usize, Region>> = RwLock::new(BTreeMap::new());

/// Registers `functions` (sorted by address, inside `range`) as live code until
/// [`unregister`] is called with `range.start`.
pub fn register(
    range: Range<usize>,
    mut functions: Vec<FunctionInfo>,
    module: Option<Arc<ModuleInfo>>,
) {
    functions.sort_by_key(|f| f.range.start);
    let region = Region {
        end: range.end,
        functions,
        module,
    };
    REGISTRY
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(range.start, region);
}

/// Removes the region starting at `start`.
pub fn unregister(start: usize) {
    REGISTRY
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&start);
}

fn with_function<R>(pc: usize, f: impl FnOnce(&Region, &FunctionInfo) -> R) -> Option<R> {
    let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
    let (_, region) = registry.range(..=pc).next_back()?;
    if pc >= region.end {
        return None;
    }
    let i = region
        .functions
        .partition_point(|func| func.range.start <= pc);
    let func = &region.functions[i.checked_sub(1)?];
    (pc < func.range.end).then(|| f(region, func))
}

/// The trap raised by the instruction at `pc`, if `pc` is a recorded trap site of
/// registered code. Safe to call from a signal handler: it neither allocates nor
/// blocks unless another thread is registering code.
pub fn trap_at(pc: usize) -> Option<TrapKind> {
    with_function(pc, |_, func| {
        func.tables.trap_at((pc - func.range.start) as u32)
    })
    .flatten()
}

/// Describes the Wasm frame executing at `pc`; `None` for non-Wasm code.
pub fn frame_at(pc: usize) -> Option<FrameInfo> {
    with_function(pc, |region, func| {
        let func_index = func.func_index?;
        Some(FrameInfo {
            func_index,
            wasm_offset: func.tables.wasm_offset_at((pc - func.range.start) as u32),
            module: region.module.clone(),
        })
    })
    .flatten()
}

/// Whether `pc` lies in registered code.
pub fn is_code(pc: usize) -> bool {
    with_function(pc, |_, _| ()).is_some()
}
