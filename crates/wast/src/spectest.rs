//! The `spectest` host module that the spec test scripts import from.

use anyhow::Result;
use lazuli::{
    Global, GlobalType, Linker, Memory, MemoryType, Mutability, Ref, RefType, SharedMemory, Store,
    Table, TableType, Val, ValType,
};

/// Defines every `spectest` export in `linker`.
pub(crate) fn link_spectest(linker: &mut Linker<()>, store: &mut Store<()>) -> Result<()> {
    linker.func_wrap("spectest", "print", || {})?;
    linker.func_wrap("spectest", "print_i32", |_: i32| {})?;
    linker.func_wrap("spectest", "print_i64", |_: i64| {})?;
    linker.func_wrap("spectest", "print_f32", |_: f32| {})?;
    linker.func_wrap("spectest", "print_f64", |_: f64| {})?;
    linker.func_wrap("spectest", "print_i32_f32", |_: i32, _: f32| {})?;
    linker.func_wrap("spectest", "print_f64_f64", |_: f64, _: f64| {})?;

    let globals = [
        ("global_i32", ValType::I32, Val::I32(666)),
        ("global_i64", ValType::I64, Val::I64(666)),
        ("global_f32", ValType::F32, Val::F32(666.6f32.to_bits())),
        ("global_f64", ValType::F64, Val::F64(666.6f64.to_bits())),
    ];
    for (name, ty, val) in globals {
        let global = Global::new(&mut *store, GlobalType::new(ty, Mutability::Const), val)?;
        linker.define(&*store, "spectest", name, global)?;
    }

    let table = Table::new(
        &mut *store,
        TableType::new(RefType::FUNCREF, 10, Some(20)),
        Ref::Func(None),
    )?;
    linker.define(&*store, "spectest", "table", table)?;
    let memory = Memory::new(&mut *store, MemoryType::new(1, Some(2)))?;
    linker.define(&*store, "spectest", "memory", memory)?;
    // Only an engine with threads on has shared memories (the only reason this
    // fails); the scripts that import it need them anyway.
    if let Ok(shared) = SharedMemory::new(store.engine(), MemoryType::shared(1, 2)) {
        linker.define(&*store, "spectest", "shared_memory", shared)?;
    }
    Ok(())
}
