//! Module generation with wasm-smith: the feature set Lazuli implements (WebAssembly
//! 2.0, extended constant expressions, tail calls, two memories and 64-bit memories and tables, no imports; relaxed SIMD, whose results
//! may differ between runtimes, only where modules are not run; not typed function
//! references, which wasmi 2 lacks), small enough that a case takes milliseconds.

use arbitrary::Unstructured;
use wasm_smith::{Config, Module};
use wasmparser::WasmFeatures;

/// Fuel of the counter wasm-smith adds to every function entry and loop head: a
/// generated module always terminates, in Lazuli (which has no fuel) as in wasmi.
const TERMINATION_FUEL: u32 = 2_000;

/// The Wasm features Lazuli's default configuration accepts, for the targets that
/// judge its validation.
pub const LAZULI_FEATURES: WasmFeatures = WasmFeatures::WASM2
    .union(WasmFeatures::EXTENDED_CONST)
    .union(WasmFeatures::RELAXED_SIMD)
    .union(WasmFeatures::TAIL_CALL)
    .union(WasmFeatures::MULTI_MEMORY)
    .union(WasmFeatures::MEMORY64)
    .union(WasmFeatures::THREADS)
    .union(WasmFeatures::FUNCTION_REFERENCES);

/// The generator configuration of the differential targets.
pub fn differential_config() -> Config {
    Config {
        // Bit-for-bit comparison of floats needs deterministic NaNs.
        canonicalize_nans: true,
        max_imports: 0,
        export_everything: true,
        allow_start_export: true,
        // WebAssembly 2.0.
        simd_enabled: true,
        reference_types_enabled: true,
        bulk_memory_enabled: true,
        multi_value_enabled: true,
        saturating_float_to_int_enabled: true,
        sign_extension_ops_enabled: true,
        // WebAssembly 3.0, as far as Lazuli implements it.
        extended_const_enabled: true,
        tail_call_enabled: true,
        max_memories: 2,
        memory64_enabled: true,
        // Results that may differ between runtimes.
        relaxed_simd_enabled: false,
        // Not in wasmi 2, the reference (Lazuli implements them): threads, and
        // typed function references, which wasm-smith generates only with GC
        // (so they need no switch here).
        threads_enabled: false,
        // The rest of 3.0, which Lazuli does not implement.
        shared_everything_threads_enabled: false,
        exceptions_enabled: false,
        gc_enabled: false,
        wide_arithmetic_enabled: false,
        custom_page_sizes_enabled: false,
        custom_descriptors_enabled: false,
        compact_imports_enabled: false,
        acquire_release_atomics_enabled: false,
        multibyte_array_access_enabled: false,
        // Small enough to run and compare quickly.
        max_types: 12,
        max_funcs: 10,
        max_globals: 10,
        max_tables: 3,
        max_table_elements: 64,
        table_max_size_required: true,
        max_memory32_bytes: 4 * 65_536,
        max_memory64_bytes: 4 * 65_536,
        memory_max_size_required: true,
        max_data_segments: 4,
        max_element_segments: 4,
        max_elements: 16,
        max_instructions: 200,
        max_nesting_depth: 8,
        ..Config::default()
    }
}

/// A valid module for the differential targets, or `None` when `u` runs dry.
pub fn differential_module(u: &mut Unstructured<'_>) -> Option<Vec<u8>> {
    let mut module = Module::new(differential_config(), u).ok()?;
    module.ensure_termination(TERMINATION_FUEL).ok()?;
    Some(module.to_bytes())
}

/// A module that may use proposals Lazuli does not enable, for the targets that
/// check rejection: every toggle comes from `u`.
pub fn any_module(u: &mut Unstructured<'_>) -> Option<Vec<u8>> {
    let mut config = differential_config();
    config.canonicalize_nans = u.arbitrary().ok()?;
    config.tail_call_enabled = u.arbitrary().ok()?;
    config.threads_enabled = u.arbitrary().ok()?;
    config.memory64_enabled = u.arbitrary().ok()?;
    config.exceptions_enabled = u.arbitrary().ok()?;
    config.extended_const_enabled = u.arbitrary().ok()?;
    config.relaxed_simd_enabled = u.arbitrary().ok()?;
    config.wide_arithmetic_enabled = u.arbitrary().ok()?;
    config.gc_enabled = u.arbitrary().ok()?;
    config.max_memories = u.int_in_range(0..=2).ok()?;
    config.max_imports = u.int_in_range(0..=3).ok()?;
    let mut module = Module::new(config, u).ok()?;
    // What validates runs in the `interleave` target, which has no fuel.
    module.ensure_termination(TERMINATION_FUEL).ok()?;
    Some(module.to_bytes())
}

/// Applies up to `max` byte mutations (flip, overwrite, insert, delete) to
/// `bytes[range]`, inserting or deleting only when `resize` allows it.
pub fn mutate(
    u: &mut Unstructured<'_>,
    bytes: &mut Vec<u8>,
    range: std::ops::Range<usize>,
    resize: bool,
    max: usize,
) {
    let Ok(count) = u.int_in_range(1..=max) else {
        return;
    };
    let (start, mut end) = (range.start, range.end);
    for _ in 0..count {
        if start >= end {
            return;
        }
        let Ok(at) = u.int_in_range(start..=end - 1) else {
            return;
        };
        let Ok(op) = u.int_in_range(0..=if resize { 3 } else { 1 }) else {
            return;
        };
        match op {
            0 => bytes[at] ^= 1 << u.int_in_range(0..=7).unwrap_or(0),
            1 => bytes[at] = u.arbitrary().unwrap_or(0),
            2 => {
                bytes.insert(at, u.arbitrary().unwrap_or(0));
                end += 1;
            }
            _ => {
                bytes.remove(at);
                end -= 1;
            }
        }
    }
}
