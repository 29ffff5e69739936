//! [`Linker`]: resolves a module's imports by name.

use crate::func::HostCallback;
use crate::store::{AsContext, AsContextMut};
use crate::types::FuncType;
use crate::values::Val;
use crate::{Caller, Engine, Extern, Func, Instance, IntoFunc, Module};
use anyhow::{Result, bail};
use std::collections::HashMap;
use std::sync::Arc;

/// Named definitions (`module::name`) used to instantiate modules.
pub struct Linker<T> {
    engine: Engine,
    definitions: HashMap<(String, String), Definition<T>>,
    allow_shadowing: bool,
}

enum Definition<T> {
    /// An item that already lives in a store.
    Extern(Extern),
    /// A host function, instantiated into each store that uses it.
    HostFunc(FuncType, Arc<HostCallback<T>>),
}

impl<T> Clone for Definition<T> {
    fn clone(&self) -> Self {
        match self {
            Definition::Extern(e) => Definition::Extern(*e),
            Definition::HostFunc(ty, f) => Definition::HostFunc(ty.clone(), f.clone()),
        }
    }
}

impl<T: 'static> Linker<T> {
    pub fn new(engine: &Engine) -> Linker<T> {
        Linker {
            engine: engine.clone(),
            definitions: HashMap::new(),
            allow_shadowing: false,
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Whether a later definition of the same name replaces an earlier one
    /// (otherwise it is an error).
    pub fn allow_shadowing(&mut self, allow: bool) -> &mut Self {
        self.allow_shadowing = allow;
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
        _store: impl AsContext<Data = T>,
        module: &str,
        name: &str,
        item: impl Into<Extern>,
    ) -> Result<&mut Self> {
        self.insert(module, name, Definition::Extern(item.into()))
    }

    /// Defines every export of `instance` under `module_name`.
    pub fn instance(
        &mut self,
        mut store: impl AsContextMut<Data = T>,
        module_name: &str,
        instance: Instance,
    ) -> Result<&mut Self> {
        for export in instance.exports(store.as_context_mut()) {
            self.insert(
                module_name,
                export.name(),
                Definition::Extern(export.into_extern()),
            )?;
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
        self.resolve(&mut store, def).ok()
    }

    fn resolve(
        &self,
        store: &mut impl AsContextMut<Data = T>,
        def: &Definition<T>,
    ) -> Result<Extern> {
        Ok(match def {
            Definition::Extern(e) => *e,
            Definition::HostFunc(ty, callback) => {
                let store = store.as_context_mut();
                Extern::Func(Func::from_callback(store.0, ty.clone(), callback.clone())?)
            }
        })
    }

    /// Instantiates `module`, resolving its imports from this linker's definitions.
    pub fn instantiate(
        &self,
        mut store: impl AsContextMut<Data = T>,
        module: &Module,
    ) -> Result<Instance> {
        let mut imports = Vec::with_capacity(module.info().imports.len());
        for import in &module.info().imports {
            let key = (import.module.clone(), import.name.clone());
            let Some(def) = self.definitions.get(&key) else {
                bail!(
                    "unknown import: `{}::{}` has not been defined",
                    import.module,
                    import.name
                );
            };
            imports.push(self.resolve(&mut store, def)?);
        }
        Instance::new(store, module, &imports)
    }
}
