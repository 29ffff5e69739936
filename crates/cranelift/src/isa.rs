//! Target ISAs: the host's (with every CPU feature cranelift-native detects) or any
//! triple Cranelift has a backend for, for cross-compilation, each built for one
//! [`Tier`] with the embedder's [`IsaSettings`].

use cranelift_codegen::isa::{self, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable, SetResult};
use std::str::FromStr;

/// A target that Cranelift cannot build for, or a setting it does not accept.
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
    /// The optimising pipeline: [`IsaSettings::opt_level`] (`speed` unless the
    /// embedder chose another) and the backtracking allocator.
    Optimized,
}

impl Tier {
    /// Cranelift's `opt_level` and `regalloc_algorithm` for this tier, where
    /// `opt_level` is the optimising tier's.
    fn settings(self, opt_level: &str) -> [(&str, &str); 2] {
        match self {
            Tier::Fast => [("opt_level", "none"), ("regalloc_algorithm", "single_pass")],
            Tier::Optimized => [
                ("opt_level", opt_level),
                ("regalloc_algorithm", "backtracking"),
            ],
        }
    }
}

/// A Cranelift setting the embedder asked for by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flag {
    /// A boolean setting turned on (e.g. `has_avx2`).
    Enable(String),
    /// A setting given a value (e.g. `regalloc_checker` = `true`).
    Set(String, String),
}

impl Flag {
    fn name(&self) -> &str {
        match self {
            Flag::Enable(name) | Flag::Set(name, _) => name,
        }
    }

    fn apply(&self, builder: &mut dyn Configurable) -> SetResult<()> {
        match self {
            Flag::Enable(name) => builder.enable(name),
            Flag::Set(name, value) => builder.set(name, value),
        }
    }
}

impl std::fmt::Display for Flag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Flag::Enable(name) => write!(f, "`{name}`"),
            Flag::Set(name, value) => write!(f, "`{name}` = `{value}`"),
        }
    }
}

/// What the embedder chose about Cranelift, the same for every tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsaSettings {
    /// Run Cranelift's IR verifier on every function.
    pub verify: bool,
    /// Cranelift's `opt_level` at [`Tier::Optimized`] (`none`, `speed` or
    /// `speed_and_size`).
    pub opt_level: &'static str,
    /// Further shared or ISA-specific settings, applied in order after the
    /// tier's: they may override its `opt_level` or register allocator, but
    /// not the settings Lazuli relies on (`preserve_frame_pointers`,
    /// `enable_multi_ret_implicit_sret`, `enable_probestack`).
    pub flags: Vec<Flag>,
}

impl IsaSettings {
    /// The defaults: `speed` at the optimising tier, no further flags.
    pub fn new(verify: bool) -> IsaSettings {
        IsaSettings {
            verify,
            opt_level: "speed",
            flags: Vec::new(),
        }
    }
}

/// The settings Lazuli's code and runtime rely on, which no [`Flag`] may name.
const REQUIRED: [(&str, &str); 3] = [
    // Backtraces and trap handling walk the frame-pointer chain.
    ("preserve_frame_pointers", "true"),
    // Multi-value functions may return more values than fit in registers.
    ("enable_multi_ret_implicit_sret", "true"),
    // The prologue's stack-limit check replaces probing.
    ("enable_probestack", "false"),
];

/// Applies `settings` at `tier` to the shared flags and to `isa`, and builds
/// the ISA.
fn finish(
    mut isa: isa::Builder,
    tier: Tier,
    settings: &IsaSettings,
) -> Result<OwnedTargetIsa, IsaError> {
    let mut b = settings::builder();
    let set = |b: &mut settings::Builder, k: &str, v: &str| {
        b.set(k, v)
            .map_err(|e| IsaError(format!("setting {k}={v}: {e}")))
    };
    for (k, v) in tier.settings(settings.opt_level) {
        set(&mut b, k, v)?;
    }
    let verify = if settings.verify { "true" } else { "false" };
    set(&mut b, "enable_verifier", verify)?;
    set(&mut b, "unwind_info", "false")?;
    for flag in &settings.flags {
        apply(&mut b, &mut isa, flag)?;
    }
    for (k, v) in REQUIRED {
        set(&mut b, k, v)?;
    }
    isa.finish(settings::Flags::new(b))
        .map_err(|e| IsaError(e.to_string()))
}

/// Applies `flag` to the shared settings `b`, or to the ISA's if it is not one.
fn apply(b: &mut settings::Builder, isa: &mut isa::Builder, flag: &Flag) -> Result<(), IsaError> {
    if REQUIRED.iter().any(|(k, _)| *k == flag.name()) {
        return Err(IsaError(format!(
            "Cranelift flag {flag} cannot be changed: Lazuli relies on it"
        )));
    }
    let result = match flag.apply(b) {
        Err(settings::SetError::BadName(_)) => flag.apply(isa),
        result => result,
    };
    result.map_err(|e| IsaError(format!("Cranelift flag {flag}: {e}")))
}

/// The ISA of the machine we run on, compiling at `tier`.
pub fn host_isa(tier: Tier, settings: &IsaSettings) -> Result<OwnedTargetIsa, IsaError> {
    let builder = cranelift_native::builder().map_err(|e| IsaError(e.to_string()))?;
    finish(builder, tier, settings)
}

/// The ISA for `triple` (e.g. `aarch64-unknown-linux-gnu`), with its baseline
/// features, compiling at `tier`.
pub fn target_isa(
    triple: &str,
    tier: Tier,
    settings: &IsaSettings,
) -> Result<OwnedTargetIsa, IsaError> {
    finish(target_builder(triple)?, tier, settings)
}

/// Fails unless `triple` is a target Cranelift (as built into Lazuli) compiles
/// for.
pub fn check_target(triple: &str) -> Result<(), IsaError> {
    target_builder(triple).map(drop)
}

fn target_builder(triple: &str) -> Result<isa::Builder, IsaError> {
    let triple = target_lexicon::Triple::from_str(triple)
        .map_err(|e| IsaError(format!("unknown target `{triple}`: {e}")))?;
    isa::lookup(triple.clone())
        .map_err(|e| IsaError(format!("no code generator for `{triple}`: {e}")))
}
