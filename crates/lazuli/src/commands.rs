//! [`Linker::module`]: defining a whole module's exports under a name, with the
//! WASI conventions for commands and reactors as Wasmtime applies them.

use crate::store::AsContextMut;
use crate::types::ExternType;
use crate::{InstancePre, Linker, Module};
use anyhow::{Context, Result, bail};

/// What a module is by the WASI conventions.
enum ModuleKind {
    /// Exports `_start`: each call of an export runs in a fresh instance.
    Command,
    /// Exports `_initialize` or neither: instantiated once, then initialised.
    Reactor,
}

impl ModuleKind {
    fn of(module: &Module) -> Result<ModuleKind> {
        let is_func = |ty: &ExternType| matches!(ty, ExternType::Func(_));
        match (
            module.get_export("_start"),
            module.get_export("_initialize"),
        ) {
            (Some(_), Some(_)) => bail!("a module cannot be both a command and a reactor"),
            (Some(start), None) if is_func(&start) => Ok(ModuleKind::Command),
            (Some(_), None) => bail!("`_start` must be a function"),
            (None, Some(init)) if is_func(&init) => Ok(ModuleKind::Reactor),
            (None, Some(_)) => bail!("`_initialize` must be a function"),
            (None, None) => Ok(ModuleKind::Reactor),
        }
    }
}

/// Whether a command module may export `name` of type `ty` without it being a
/// function: the items toolchains export for their own use.
fn toolchain_export(name: &str, ty: &ExternType) -> bool {
    match ty {
        ExternType::Memory(_) => name == "memory",
        ExternType::Table(_) => matches!(name, "table" | "__indirect_function_table"),
        ExternType::Global(_) => matches!(
            name,
            "__data_end" | "__heap_base" | "__dso_handle" | "__rtti_base"
        ),
        ExternType::Func(_) => false,
    }
}

impl<T: 'static> Linker<T> {
    /// Defines the exports of `module` under `module_name`, following the WASI
    /// conventions as Wasmtime does:
    ///
    /// - A *command* (it exports `_start`) is not instantiated now. Each of its
    ///   exported functions is defined as a host function that, on every call,
    ///   instantiates the module afresh (with this linker's definitions as they
    ///   are now) and calls that export of the new instance, so that no state
    ///   survives from one call to the next.
    /// - A *reactor* (it exports `_initialize`, or neither) is instantiated once
    ///   in `store`, its `_initialize` is run, and its exports are defined.
    ///
    /// Unlike Wasmtime's, the functions a command defines are host functions
    /// that are not tied to `store`: they can be used to instantiate in any
    /// store of the engine.
    pub fn module(
        &mut self,
        mut store: impl AsContextMut<Data = T>,
        module_name: &str,
        module: &Module,
    ) -> Result<&mut Self> {
        match ModuleKind::of(module)? {
            ModuleKind::Command => self.command(module_name, module),
            ModuleKind::Reactor => {
                let instance = self.instantiate(&mut store, module)?;
                if let Some(init) = instance.get_func(&mut store, "_initialize") {
                    init.typed::<(), ()>(&store)?
                        .call(&mut store, ())
                        .context("calling the reactor's `_initialize`")?;
                }
                self.instance(store, module_name, instance)
            }
        }
    }

    /// Defines each exported function of the command `module` as a host
    /// function that runs it in a fresh instance. Nothing is defined if an
    /// export is refused.
    fn command(&mut self, module_name: &str, module: &Module) -> Result<&mut Self> {
        let pre = self.instantiate_pre(module)?;
        let mut funcs = Vec::new();
        for export in module.exports() {
            match export.ty() {
                ExternType::Func(ty) => funcs.push((export.name(), ty)),
                ty if toolchain_export(export.name(), &ty) || self.allow_unknown_exports => {}
                _ => bail!("command export `{}` is not a function", export.name()),
            }
        }
        for (name, ty) in funcs {
            let body = fresh_instance_call(pre.clone(), name.to_string());
            self.func_new(module_name, name, ty, body)?;
        }
        Ok(self)
    }
}

/// The body of a command's export `name`: instantiate, then call the export.
fn fresh_instance_call<T: 'static>(
    pre: InstancePre<T>,
    name: String,
) -> impl Fn(crate::Caller<'_, T>, &[crate::Val], &mut [crate::Val]) -> Result<()> + Send + Sync {
    move |mut caller, params, results| {
        let instance = pre.instantiate(&mut caller)?;
        let Some(func) = instance.get_func(&mut caller, &name) else {
            bail!("command export `{name}` is missing from its instance");
        };
        func.call(&mut caller, params, results)
    }
}
