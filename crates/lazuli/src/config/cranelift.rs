//! The compiler's settings in Wasmtime's shapes: the strategy, Cranelift's
//! optimisation level and flags, and the target.

use super::Config;
use anyhow::Result;
use lazuli_cranelift::{Flag, IsaSettings};

/// Which compiler an engine uses ([`Config::strategy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// The best compiler available: Cranelift (default).
    #[default]
    Auto,
    /// Cranelift, at the tiers [`Config::tiering`] chooses.
    Cranelift,
    /// Wasmtime's baseline compiler, which Lazuli does not have:
    /// [`crate::Engine::new`] fails with an error naming it. Lazuli's fast tier
    /// ([`crate::Tiering::Fast`]) is its counterpart.
    Winch,
}

/// How much Cranelift's optimising tier optimises ([`Config::cranelift_opt_level`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OptLevel {
    /// No e-graph optimisation (Cranelift's `opt_level=none`).
    None,
    /// Optimise for speed (`speed`, the default).
    #[default]
    Speed,
    /// Optimise for speed and code size (`speed_and_size`).
    SpeedAndSize,
}

impl OptLevel {
    /// The value of Cranelift's `opt_level` setting.
    fn cranelift_name(self) -> &'static str {
        match self {
            OptLevel::None => "none",
            OptLevel::Speed => "speed",
            OptLevel::SpeedAndSize => "speed_and_size",
        }
    }
}

impl Config {
    /// Which compiler to use (default [`Strategy::Auto`], Cranelift). Lazuli has
    /// only Cranelift: with [`Strategy::Winch`], [`crate::Engine::new`] fails.
    pub fn strategy(&mut self, strategy: Strategy) -> &mut Self {
        self.strategy = strategy;
        self
    }

    /// Cranelift's `opt_level` in the optimising tier (default
    /// [`OptLevel::Speed`]): the one [`crate::Tiering::Optimized`] compiles
    /// with, and that [`crate::Tiering::Auto`] recompiles hot functions with.
    /// The fast tier never optimises. It decides the code, so it is part of the
    /// code cache's keys and of a precompiled module's settings.
    pub fn cranelift_opt_level(&mut self, level: OptLevel) -> &mut Self {
        self.opt_level = level;
        self
    }

    /// Turns on the Cranelift setting `flag`, shared (e.g. `regalloc_checker`)
    /// or specific to the target (e.g. `has_avx2`), for every tier. An unknown
    /// flag, one that is not a boolean, or one of the settings Lazuli relies on
    /// (`preserve_frame_pointers`, `enable_multi_ret_implicit_sret`,
    /// `enable_probestack`) makes [`crate::Engine::new`] fail with an error
    /// naming it. Flags are part of the code cache's keys and of a precompiled
    /// module's settings.
    ///
    /// # Safety
    /// The code is trusted to run: a CPU feature turned on that the machine
    /// running the code lacks makes it execute instructions that machine does
    /// not have, and other flags change what the generated code assumes.
    pub unsafe fn cranelift_flag_enable(&mut self, flag: &str) -> &mut Self {
        self.cranelift_flags.push(Flag::Enable(flag.to_string()));
        self
    }

    /// Gives the Cranelift setting `name` the value `value`, as
    /// [`Config::cranelift_flag_enable`] does (an unknown name or a bad value
    /// makes [`crate::Engine::new`] fail with an error naming it). Applied after
    /// the tier's own settings, so `opt_level` set here replaces
    /// [`Config::cranelift_opt_level`] at every tier.
    ///
    /// # Safety
    /// As for [`Config::cranelift_flag_enable`].
    pub unsafe fn cranelift_flag_set(&mut self, name: &str, value: &str) -> &mut Self {
        let flag = Flag::Set(name.to_string(), value.to_string());
        self.cranelift_flags.push(flag);
        self
    }

    /// Compiles for another target triple (e.g. `aarch64-unknown-linux-gnu`, or
    /// an architecture alone such as `x86_64`). Such an engine can compile
    /// modules ([`crate::Engine::precompile_module`]) but not run them. Fails if
    /// the triple is not one, or if Lazuli's Cranelift has no code generator for
    /// it (Lazuli has x86-64's and aarch64's).
    pub fn target(&mut self, triple: &str) -> Result<&mut Self> {
        lazuli_cranelift::check_target(triple)?;
        self.target = Some(triple.to_string());
        Ok(self)
    }

    /// The Cranelift settings every compiler of the engine starts from.
    pub(crate) fn isa_settings(&self) -> IsaSettings {
        IsaSettings {
            verify: self.verify,
            opt_level: self.opt_level.cranelift_name(),
            flags: self.cranelift_flags.clone(),
        }
    }
}
