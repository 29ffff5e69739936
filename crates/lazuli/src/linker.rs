//! [`Linker`]: resolves a module's imports by name.

use crate::func::HostCallback;
use crate::instance::check_import;
use crate::instance_pre::InstancePre;
use crate::store::{AsContext, AsContextMut};
use crate::types::{ExternType, FuncType, ImportType};
use crate::values::Val;
use crate::{Caller, Engine, Extern, Func, Instance, IntoFunc, Module};
use anyhow::{Result, anyhow, bail};
use std::collections::HashMap;
use std::sync::Arc;

/// Named definitions (`module::name`) used to instantiate modules.
pub struct Linker<T> {
    engine: Engine,
    definitions: HashMap<(String, String), Definition<T>>,
    allow_shadowing: bool,
    pub(crate) allow_unknown_exports: bool,
}

/// What a name of a linker stands for.
pub(crate) enum Definition<T> {
    /// An item that already lives in a store, with its type when it was defined.
    Extern(Extern, ExternType),
    /// A host function, instantiated into each store that uses it.
    HostFunc(FuncType, Arc<HostCallback<T>>),
}

impl<T> Clone for Definition<T> {
    fn clone(&self) -> Self {
        match self {
            Definition::Extern(e, ty) => Definition::Extern(e.clone(), ty.clone()),
            Definition::HostFunc(ty, f) => Definition::HostFunc(ty.clone(), f.clone()),
        }
    }
}

impl<T> Clone for Linker<T> {
    fn clone(&self) -> Self {
        Linker {
            engine: self.engine.clone(),
            definitions: self.definitions.clone(),
            allow_shadowing: self.allow_shadowing,
            allow_unknown_exports: self.allow_unknown_exports,
        }
    }
}

impl<T> Definition<T> {
    fn ty(&self) -> ExternType {
        match self {
            Definition::Extern(_, ty) => ty.clone(),
            Definition::HostFunc(ty, _) => ExternType::Func(ty.clone()),
        }
    }

    /// The item in `store`, instantiating a host function into it if needed.
    pub(crate) fn resolve(&self, store: &mut impl AsContextMut<Data = T>) -> Result<Extern>
    where
        T: 'static,
    {
        Ok(match self {
            Definition::Extern(e, _) => e.clone(),
            Definition::HostFunc(ty, callback) => {
                let store = store.as_context_mut();
                Extern::Func(Func::from_callback(store.0, ty.clone(), callback.clone())?)
            }
        })
    }
}

impl<T: 'static> Linker<T> {
    /// An empty linker for modules of `engine`.
    pub fn new(engine: &Engine) -> Linker<T> {
        Linker {
            engine: engine.clone(),
            definitions: HashMap::new(),
            allow_shadowing: false,
            allow_unknown_exports: false,
        }
    }

    /// The engine this linker's modules belong to.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Whether a later definition of the same name replaces an earlier one
    /// (otherwise it is an error).
    pub fn allow_shadowing(&mut self, allow: bool) -> &mut Self {
        self.allow_shadowing = allow;
        self
    }

    /// Whether [`Linker::module`] accepts a command module that exports items
    /// other than functions and the ones toolchains add (`memory`, `table`,
    /// `__indirect_function_table`, `__data_end`, `__heap_base`, ...); they are
    /// then left undefined. Off by default: such an export is an error.
    pub fn allow_unknown_exports(&mut self, allow: bool) -> &mut Self {
        self.allow_unknown_exports = allow;
        self
    }

    fn insert(&mut self, module: &str, name: &str, def: Definition<T>) -> Result<&mut Self> {
        let key = (module.to_string(), name.to_string());
        if !self.allow_shadowing && self.definitions.contains_key(&key) {
            bail!("`{module}::{name}` is already defined");
        }
        self.definitions.insert(key, def);
        Ok(self)
    }

    /// Defines a host function from a Rust closure; its Wasm signature comes from
    /// the closure's parameter and result types.
    pub fn func_wrap<Params, Results>(
        &mut self,
        module: &str,
        name: &str,
        f: impl IntoFunc<T, Params, Results>,
    ) -> Result<&mut Self> {
        let (ty, callback) = f.into_callback();
        self.insert(module, name, Definition::HostFunc(ty, callback))
    }

    /// Defines a host function with a dynamic signature.
    pub fn func_new(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
    ) -> Result<&mut Self> {
        let callback = crate::typed::dynamic_callback(ty.clone(), f);
        self.insert(module, name, Definition::HostFunc(ty, callback))
    }

    /// Defines `module::name` as an item of `store`.
    pub fn define(
        &mut self,
        store: impl AsContext<Data = T>,
        module: &str,
        name: &str,
        item: impl Into<Extern>,
    ) -> Result<&mut Self> {
        let item = item.into();
        let ty = item.try_ty_in(&store.as_context().0.opaque)?;
        self.insert(module, name, Definition::Extern(item, ty))
    }

    /// Defines every export of `instance` under `module_name`.
    pub fn instance(
        &mut self,
        mut store: impl AsContextMut<Data = T>,
        module_name: &str,
        instance: Instance,
    ) -> Result<&mut Self> {
        let exports: Vec<(String, Extern)> = instance
            .exports(store.as_context_mut())
            .map(|e| (e.name().to_string(), e.into_extern()))
            .collect();
        for (name, item) in exports {
            self.define(&store, module_name, &name, item)?;
        }
        Ok(self)
    }

    /// The item defined as `module::name`, instantiating a host function into
    /// `store` if needed.
    pub fn get(
        &self,
        mut store: impl AsContextMut<Data = T>,
        module: &str,
        name: &str,
    ) -> Option<Extern> {
        let def = self
            .definitions
            .get(&(module.to_string(), name.to_string()))?;
        def.resolve(&mut store).ok()
    }

    /// The "default" function of `module`, as Wasmtime defines it: the function
    /// named `""`, else `_start`, else a function that does nothing.
    pub fn get_default(
        &self,
        mut store: impl AsContextMut<Data = T>,
        module: &str,
    ) -> Result<Func> {
        for name in ["", "_start"] {
            if let Some(item) = self.get(&mut store, module, name) {
                return item
                    .into_func()
                    .ok_or_else(|| anyhow!("`{module}::{name}` is not a function"));
            }
        }
        let (ty, callback) = IntoFunc::<T, (), ()>::into_callback(|| {});
        Func::from_callback(store.as_context_mut().0, ty, callback)
    }

    /// The definition that satisfies `import`, type-checked against it.
    fn definition_for(&self, import: &ImportType<'_>) -> Result<&Definition<T>> {
        let (module, name) = (import.module(), import.name());
        let key = (module.to_string(), name.to_string());
        let Some(def) = self.definitions.get(&key) else {
            bail!("unknown import: `{module}::{name}` has not been defined");
        };
        let (expected, actual) = (import.ty(), def.ty());
        let matches = match (&expected, &actual) {
            // Their sizes change as they grow: instantiation checks them, as
            // they are then (sharing never changes).
            (ExternType::Memory(e), ExternType::Memory(a)) => e.is_shared() == a.is_shared(),
            (ExternType::Table(e), ExternType::Table(a)) => e.element() == a.element(),
            _ => check_import(&expected, &actual),
        };
        if !matches {
            bail!(
                "incompatible import type for `{module}::{name}`: expected {}, found {}",
                expected.describe(),
                actual.describe()
            );
        }
        Ok(def)
    }

    /// Defines every function import of `module` that this linker cannot
    /// satisfy as a host function that fails with the unknown-import error when
    /// called, so that a module whose unused imports are missing can still run.
    pub fn define_unknown_imports_as_traps(&mut self, module: &Module) -> Result<()> {
        for import in module.imports() {
            let Err(error) = self.definition_for(&import) else {
                continue;
            };
            if let ExternType::Func(ty) = import.ty() {
                let message = error.to_string();
                self.func_new(import.module(), import.name(), ty, move |_, _, _| {
                    Err(anyhow!("{message}"))
                })?;
            }
        }
        Ok(())
    }

    /// Resolves and type-checks `module`'s imports once, for instantiating it
    /// many times (in any store of this engine) without looking them up again.
    pub fn instantiate_pre(&self, module: &Module) -> Result<InstancePre<T>> {
        let definitions = module
            .imports()
            .map(|import| self.definition_for(&import).cloned())
            .collect::<Result<Vec<_>>>()?;
        Ok(InstancePre::new(module.clone(), definitions))
    }

    /// Instantiates `module`, resolving its imports from this linker's definitions.
    pub fn instantiate(
        &self,
        store: impl AsContextMut<Data = T>,
        module: &Module,
    ) -> Result<Instance> {
        self.instantiate_pre(module)?.instantiate(store)
    }
}
