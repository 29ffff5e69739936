//! A module's bytes, which its function bodies and data segments are ranges of:
//! a copy of its own, or, for a precompiled module, the part of the artifact's
//! mapping that holds the Wasm module, so that loading one copies nothing.

use lazuli_jit::Mapping;
use std::ops::{Deref, Range};
use std::sync::Arc;

pub(crate) enum ModuleBytes {
    /// Bytes the module owns: handed over (a file read, a text module's binary)
    /// or copied from a borrowed slice.
    Owned(Vec<u8>),
    /// `range` of `map`; the mapping may hold the module's code too, which
    /// lives as long as this.
    Mapped {
        map: Arc<Mapping>,
        range: Range<usize>,
    },
}

impl From<&[u8]> for ModuleBytes {
    fn from(bytes: &[u8]) -> ModuleBytes {
        ModuleBytes::Owned(bytes.to_vec())
    }
}

impl From<Vec<u8>> for ModuleBytes {
    fn from(bytes: Vec<u8>) -> ModuleBytes {
        ModuleBytes::Owned(bytes)
    }
}

impl Deref for ModuleBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            ModuleBytes::Owned(bytes) => bytes,
            ModuleBytes::Mapped { map, range } => &map.bytes()[range.clone()],
        }
    }
}
