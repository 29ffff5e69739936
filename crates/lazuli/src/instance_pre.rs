//! [`InstancePre`]: a module whose imports a [`Linker`](crate::Linker) has
//! already resolved and type-checked, ready to instantiate many times.

use crate::linker::Definition;
use crate::store::AsContextMut;
use crate::{Instance, Module};
use anyhow::Result;
use std::sync::Arc;

/// A module with its imports resolved, from [`Linker::instantiate_pre`].
///
/// Host functions among the imports are instantiated afresh into each store it
/// is instantiated in; items that already live in a store (memories, globals,
/// instance exports) can only be used in that store.
///
/// [`Linker::instantiate_pre`]: crate::Linker::instantiate_pre
pub struct InstancePre<T> {
    module: Module,
    definitions: Arc<[Definition<T>]>,
}

impl<T> Clone for InstancePre<T> {
    fn clone(&self) -> Self {
        InstancePre {
            module: self.module.clone(),
            definitions: self.definitions.clone(),
        }
    }
}

impl<T: 'static> InstancePre<T> {
    /// `definitions` satisfy `module`'s imports, in order.
    pub(crate) fn new(module: Module, definitions: Vec<Definition<T>>) -> Self {
        InstancePre {
            module,
            definitions: definitions.into(),
        }
    }

    /// The module this instantiates.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Instantiates the module in `store`.
    pub fn instantiate(&self, mut store: impl AsContextMut<Data = T>) -> Result<Instance> {
        let imports = self
            .definitions
            .iter()
            .map(|def| def.resolve(&mut store))
            .collect::<Result<Vec<_>>>()?;
        Instance::new(store, &self.module, &imports)
    }
}
