//! `lazuli run --coredump-on-trap PATH`: the engine is configured with
//! `Config::coredump_on_trap`, and the core dump a trap's error carries is
//! written to PATH in the tool-conventions format by `WasmCoreDump::serialize`.

use std::path::Path;

use anyhow::{Context as _, Result};
use lazuli::{Store, Trap, WasmCoreDump};

/// Writes the core dump that `err` carries to `path` if `err` is a trap (a
/// WASI exit or another host error writes none), naming the program `file`.
pub fn write_on_trap<T>(
    path: &Path,
    store: &mut Store<T>,
    err: &anyhow::Error,
    file: &str,
) -> Result<()> {
    if err.downcast_ref::<Trap>().is_none() {
        return Ok(());
    }
    let Some(dump) = err.downcast_ref::<WasmCoreDump>() else {
        return Ok(());
    };
    std::fs::write(path, dump.serialize(store, file))
        .with_context(|| format!("cannot write the core dump `{}`", path.display()))
}
