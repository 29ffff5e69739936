//! Target ISAs: the host's (with every CPU feature cranelift-native detects) or any
//! triple Cranelift has a backend for, for cross-compilation, each built for one
//! [`Tier`].

use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use std::str::FromStr;

/// A target that Cranelift cannot build for.
#[derive(Debug)]
pub struct IsaError(pub String);

impl std::fmt::Display for IsaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for IsaError {}

/// How much Cranelift works on the code: the tiers differ only in their flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Compiles quickly into slower, larger code: no e-graph optimisation
    /// (`opt_level=none`) and regalloc2's single-pass allocator. On python3.11.wasm
    /// it compiles in 0.55 of the CPU time into 2.2 times the machine code, which
    /// runs about half as fast (BENCHMARKS.md, "Fast tier").
    Fast,
    /// The optimising pipeline: `opt_level=speed` and the backtracking allocator.
    Optimized,
}

impl Tier {
    /// Cranelift's `opt_level` and `regalloc_algorithm` for this tier.
    fn settings(self) -> [(&'static str, &'static str); 2] {
        match self {
            Tier::Fast => [("opt_level", "none"), ("regalloc_algorithm", "single_pass")],
            Tier::Optimized => [
                ("opt_level", "speed"),
                ("regalloc_algorithm", "backtracking"),
            ],
        }
    }
}

/// The flags Lazuli compiles with at `tier`.
fn flags(tier: Tier, verify: bool) -> Result<settings::Flags, IsaError> {
    let mut b = settings::builder();
    let set = |b: &mut settings::Builder, k: &str, v: &str| {
        b.set(k, v)
            .map_err(|e| IsaError(format!("setting {k}={v}: {e}")))
    };
    for (k, v) in tier.settings() {
        set(&mut b, k, v)?;
    }
    // Backtraces walk the frame-pointer chain.
    set(&mut b, "preserve_frame_pointers", "true")?;
    // Multi-value functions may return more values than fit in registers.
    set(&mut b, "enable_multi_ret_implicit_sret", "true")?;
    set(
        &mut b,
        "enable_verifier",
        if verify { "true" } else { "false" },
    )?;
    set(&mut b, "unwind_info", "false")?;
    // The prologue's stack-limit check replaces probing.
    set(&mut b, "enable_probestack", "false")?;
    Ok(settings::Flags::new(b))
}

/// The ISA of the machine we run on, compiling at `tier`.
pub fn host_isa(tier: Tier, verify: bool) -> Result<OwnedTargetIsa, IsaError> {
    let builder = cranelift_native::builder().map_err(|e| IsaError(e.to_string()))?;
    builder
        .finish(flags(tier, verify)?)
        .map_err(|e| IsaError(e.to_string()))
}

/// The ISA for `triple` (e.g. `aarch64-unknown-linux-gnu`), with its baseline features,
/// compiling at `tier`.
pub fn target_isa(triple: &str, tier: Tier, verify: bool) -> Result<OwnedTargetIsa, IsaError> {
    let triple = target_lexicon::Triple::from_str(triple)
        .map_err(|e| IsaError(format!("unknown target `{triple}`: {e}")))?;
    let builder = cranelift_codegen::isa::lookup(triple.clone())
        .map_err(|e| IsaError(format!("no code generator for `{triple}`: {e}")))?;
    builder
        .finish(flags(tier, verify)?)
        .map_err(|e| IsaError(e.to_string()))
}
