//! `lazuli run -W KEY[=VALUE][,KEY[=VALUE]...]`: Wasm settings under the names
//! Wasmtime's CLI gives them, so that a Wasmtime command line works unchanged.
//!
//! Each key is one entry of [`SETTINGS`] (a key with a value) or [`PROPOSALS`]
//! (`NAME=y|n`). A new key is one more entry of [`SETTINGS`] with a field of
//! [`WasmOptions`] for its value, parsed by [`parse_number`] or a parser of its own.

use anyhow::{Context as _, Result, anyhow, bail};
use lazuli::Config;
use std::time::Duration;

/// Turns a Wasm proposal on or off in a [`Config`].
type Switch = for<'a> fn(&'a mut Config, bool) -> &'a mut Config;

/// A Wasm proposal that `-W NAME=y|n` names.
struct Proposal {
    /// Wasmtime's name for it.
    name: &'static str,
    /// Its switch, or `None` if Lazuli does not implement the proposal: turning
    /// it off is then accepted (it is off), turning it on is an error.
    switch: Option<Switch>,
}

/// Every proposal Wasmtime's CLI has a `-W` switch for (the core ones; the
/// component model is not a Wasm core proposal).
const PROPOSALS: &[Proposal] = &[
    Proposal {
        name: "simd",
        switch: Some(Config::wasm_simd),
    },
    Proposal {
        name: "bulk-memory",
        switch: Some(Config::wasm_bulk_memory),
    },
    Proposal {
        name: "reference-types",
        switch: Some(Config::wasm_reference_types),
    },
    Proposal {
        name: "multi-value",
        switch: Some(Config::wasm_multi_value),
    },
    Proposal {
        name: "relaxed-simd",
        switch: Some(Config::wasm_relaxed_simd),
    },
    // Not a proposal, but a `y|n` switch under Wasmtime's name.
    Proposal {
        name: "relaxed-simd-deterministic",
        switch: Some(Config::relaxed_simd_deterministic),
    },
    Proposal {
        name: "tail-call",
        switch: Some(Config::wasm_tail_call),
    },
    Proposal {
        name: "function-references",
        switch: Some(Config::wasm_function_references),
    },
    Proposal {
        name: "gc",
        switch: None,
    },
    Proposal {
        name: "threads",
        switch: Some(Config::wasm_threads),
    },
    Proposal {
        name: "memory64",
        switch: Some(Config::wasm_memory64),
    },
    Proposal {
        name: "multi-memory",
        switch: Some(Config::wasm_multi_memory),
    },
    Proposal {
        name: "exceptions",
        switch: None,
    },
    Proposal {
        name: "extended-const",
        switch: Some(Config::wasm_extended_const),
    },
    Proposal {
        name: "custom-page-sizes",
        switch: None,
    },
    Proposal {
        name: "wide-arithmetic",
        switch: None,
    },
    Proposal {
        name: "stack-switching",
        switch: None,
    },
];

/// Parses the value of a setting into [`WasmOptions`]; the value is `None` when
/// the key was given without `=`.
type SetValue = fn(&mut WasmOptions, Option<&str>) -> Result<()>;

/// The `-W` keys that take a value: (key, what the value is, its parser).
const SETTINGS: &[(&str, &str, SetValue)] = &[
    ("max-memory-size", "BYTES", |options, value| {
        options.max_memory_size = Some(parse_number(value)?);
        Ok(())
    }),
    ("fuel", "N", |options, value| {
        options.fuel = Some(parse_number(value)?);
        Ok(())
    }),
    ("timeout", "DURATION", |options, value| {
        options.timeout = Some(parse_duration(value)?);
        Ok(())
    }),
];

/// What the `-W` options of one `lazuli run` asked for.
#[derive(Debug, Default)]
pub struct WasmOptions {
    /// `max-memory-size=BYTES`: the most bytes any one linear memory may have
    /// (growing past it fails, as past a declared maximum).
    pub max_memory_size: Option<usize>,
    /// `fuel=N`: the fuel the store starts with (`Config::consume_fuel`); running
    /// out traps.
    pub fuel: Option<u64>,
    /// `timeout=DURATION`: the run is interrupted (a trap) after this long, by
    /// epoch interruption and a timer thread.
    pub timeout: Option<Duration>,
    /// `NAME=y|n` of each implemented proposal, in the order given.
    proposals: Vec<(Switch, bool)>,
}

impl WasmOptions {
    /// Adds the settings of one `-W` value: `KEY[=VALUE]` items separated by commas.
    pub fn parse(&mut self, text: &str) -> Result<()> {
        for item in text.split(',') {
            let (key, value) = match item.split_once('=') {
                Some((key, value)) => (key, Some(value)),
                None => (item, None),
            };
            self.set(key, value)
                .with_context(|| format!("`-W {item}`"))?;
        }
        Ok(())
    }

    /// Sets the key `key` to `value`.
    fn set(&mut self, key: &str, value: Option<&str>) -> Result<()> {
        if let Some((_, _, set)) = SETTINGS.iter().find(|(k, _, _)| *k == key) {
            return set(self, value);
        }
        let Some(proposal) = PROPOSALS.iter().find(|p| p.name == key) else {
            bail!("unknown key `{key}`; the known keys are {}", known_keys());
        };
        let enable = parse_bool(value)?;
        match proposal.switch {
            Some(switch) => self.proposals.push((switch, enable)),
            None if enable => bail!(
                "Lazuli does not implement the `{}` proposal, so it cannot be turned on",
                proposal.name
            ),
            None => {}
        }
        Ok(())
    }

    /// Applies the proposals turned on or off to `config`.
    pub fn configure(&self, config: &mut Config) {
        for (switch, enable) in &self.proposals {
            switch(config, *enable);
        }
        if self.fuel.is_some() {
            config.consume_fuel(true);
        }
        if self.timeout.is_some() {
            config.epoch_interruption(true);
        }
    }
}

/// Every key, for the error naming an unknown one.
fn known_keys() -> String {
    let settings = SETTINGS
        .iter()
        .map(|(key, what, _)| format!("{key}={what}"));
    let proposals = PROPOSALS.iter().map(|p| format!("{}=y|n", p.name));
    settings.chain(proposals).collect::<Vec<_>>().join(", ")
}

/// A boolean as Wasmtime's CLI reads it: nothing, `y`, `yes`, `true`; `n`, `no`, `false`.
fn parse_bool(value: Option<&str>) -> Result<bool> {
    match value {
        None | Some("y" | "yes" | "true") => Ok(true),
        Some("n" | "no" | "false") => Ok(false),
        Some(other) => bail!("`{other}` is not a boolean; expected `y` or `n`"),
    }
}

/// A whole number: decimal, or hexadecimal after `0x`; `_` may separate digits.
/// A duration as Wasmtime's `-W timeout` takes it: a whole number of seconds,
/// or one followed by `s`, `ms`, `us` or `ns`.
fn parse_duration(value: Option<&str>) -> Result<Duration> {
    let text = value.ok_or_else(|| anyhow!("a duration must be given as KEY=DURATION"))?;
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let n: u64 = number
        .parse()
        .map_err(|_| anyhow!("`{text}` is not a duration (e.g. 10s, 500ms)"))?;
    Ok(match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "us" => Duration::from_micros(n),
        "ns" => Duration::from_nanos(n),
        _ => bail!("`{text}`: the unit must be s, ms, us or ns"),
    })
}

pub fn parse_number<T: TryFrom<u64>>(value: Option<&str>) -> Result<T> {
    let text = value
        .ok_or_else(|| anyhow!("a number must be given as KEY=N"))?
        .replace('_', "");
    let number = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    }
    .map_err(|_| anyhow!("`{text}` is not a whole number"))?;
    T::try_from(number).map_err(|_| anyhow!("{number} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_split_at_commas_and_later_ones_win() {
        let mut options = WasmOptions::default();
        options.parse("simd=n,max-memory-size=0x1_0000").unwrap();
        options.parse("max-memory-size=65536,simd").unwrap();
        assert_eq!(options.max_memory_size, Some(65536));
        assert_eq!(
            options.proposals.iter().map(|p| p.1).collect::<Vec<_>>(),
            [false, true]
        );
    }

    #[test]
    fn timeouts_are_seconds_or_have_a_unit() {
        let parse = |text| parse_duration(Some(text));
        assert_eq!(parse("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse("3s").unwrap(), Duration::from_secs(3));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("7us").unwrap(), Duration::from_micros(7));
        assert_eq!(parse("9ns").unwrap(), Duration::from_nanos(9));
        assert!(parse("1h").is_err());
        assert!(parse("ms").is_err());
        assert!(parse_duration(None).is_err());
    }

    #[test]
    fn an_unknown_key_lists_the_known_ones() {
        let err = WasmOptions::default().parse("no-such-key=1").unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("unknown key `no-such-key`"), "{message}");
        assert!(message.contains("max-memory-size=BYTES"), "{message}");
        assert!(message.contains("tail-call=y|n"), "{message}");
    }

    #[test]
    fn unimplemented_proposals_may_be_turned_off_only() {
        let mut options = WasmOptions::default();
        options.parse("exceptions=n,gc=no").unwrap();
        let err = options.parse("exceptions=y").unwrap_err();
        assert!(format!("{err:#}").contains("does not implement the `exceptions` proposal"));
        options
            .parse("tail-call=y,multi-memory=y,threads=y")
            .unwrap();
    }

    #[test]
    fn bad_values_are_errors() {
        for bad in [
            "simd=maybe",
            "max-memory-size",
            "max-memory-size=-1",
            "max-memory-size=1k",
        ] {
            assert!(WasmOptions::default().parse(bad).is_err(), "{bad}");
        }
    }
}
