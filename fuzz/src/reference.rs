//! The reference run: the module in wasmi, every exported function called with
//! every argument set, recording each result and the observable state after it.

use crate::value::{self, ARGUMENT_SETS, Failure, Value};
use wasmi::{Config, Engine, Linker, Module, Store};

/// The fuel wasmi has for instantiation and for each call.
const FUEL: u64 = 100_000;

/// The names of a module's exports, by kind, in the order of the export section.
#[derive(Debug, Default)]
pub struct Exports {
    pub funcs: Vec<String>,
    pub memories: Vec<String>,
    pub globals: Vec<String>,
    pub tables: Vec<String>,
}

impl Exports {
    /// The exports of `bytes` (a module already known to parse).
    pub fn of(bytes: &[u8]) -> Exports {
        let mut exports = Exports::default();
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            let Ok(wasmparser::Payload::ExportSection(reader)) = payload else {
                continue;
            };
            for export in reader.into_iter().flatten() {
                let list = match export.kind {
                    wasmparser::ExternalKind::Func => &mut exports.funcs,
                    wasmparser::ExternalKind::Memory => &mut exports.memories,
                    wasmparser::ExternalKind::Global => &mut exports.globals,
                    wasmparser::ExternalKind::Table => &mut exports.tables,
                    _ => continue,
                };
                list.push(export.name.to_string());
            }
        }
        exports
    }
}

/// What can be observed of an instance between calls, in export order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub memories: Vec<Vec<u8>>,
    pub globals: Vec<Value>,
    /// For every element of every exported table: whether it is null.
    pub tables: Vec<Vec<bool>>,
}

/// One call and what followed it.
#[derive(Debug, Clone)]
pub struct Call {
    pub func: String,
    pub args: Vec<Value>,
    pub result: Result<Vec<Value>, Failure>,
    pub state: State,
}

/// Everything the reference observed.
#[derive(Debug)]
pub struct Trace {
    pub exports: Exports,
    /// The state after instantiation, or why it failed.
    pub instantiation: Result<State, Failure>,
    /// The calls made, up to (and including) one that exhausted the stack. A call
    /// that ran out of fuel and everything after it are left out.
    pub calls: Vec<Call>,
}

fn engine() -> &'static Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::default();
        config
            .consume_fuel(true)
            // Deeper than the generated modules' own fuel lets them recurse, so
            // that their recursion ends the same way in both runtimes.
            .set_max_recursion_depth(4096)
            .wasm_simd(true)
            .wasm_tail_call(true)
            .wasm_extended_const(true)
            .wasm_multi_memory(true)
            .wasm_memory64(true)
            .wasm_wide_arithmetic(false)
            .wasm_custom_page_sizes(false)
            .wasm_relaxed_simd(false);
        Engine::new(&config)
    })
}

/// Runs `bytes` in wasmi, or `None` if wasmi cannot load it (then nothing can be
/// compared).
pub fn run(bytes: &[u8]) -> Option<Trace> {
    let engine = engine();
    let module = Module::new(engine, bytes).ok()?;
    let exports = Exports::of(bytes);
    let mut store = Store::new(engine, ());
    store.set_fuel(FUEL).ok()?;
    let instance = match Linker::<()>::new(engine).instantiate_and_start(&mut store, &module) {
        Ok(instance) => instance,
        Err(e) => {
            let failure = value::wasmi_failure(&e);
            if failure == Failure::OutOfFuel {
                return None;
            }
            return Some(Trace {
                exports,
                instantiation: Err(failure),
                calls: Vec::new(),
            });
        }
    };
    let mut trace = Trace {
        instantiation: Ok(state(&store, &instance, &exports)),
        exports,
        calls: Vec::new(),
    };
    'calls: for name in &trace.exports.funcs {
        let Some(func) = instance.get_func(&store, name) else {
            continue;
        };
        let ty = func.ty(&store);
        for set in 0..ARGUMENT_SETS {
            let args: Vec<Value> = ty
                .params()
                .iter()
                .enumerate()
                .map(|(i, t)| value::argument(value::lazuli_type(*t), set, i))
                .collect();
            let inputs: Vec<wasmi::Val> = args.iter().map(|v| value::to_wasmi(*v)).collect();
            let mut outputs: Vec<wasmi::Val> = ty
                .results()
                .iter()
                .map(|t| wasmi::Val::default_for_ty(*t))
                .collect();
            if store.set_fuel(FUEL).is_err() {
                break 'calls;
            }
            let result = match func.call(&mut store, &inputs, &mut outputs) {
                Ok(()) => Ok(outputs.iter().map(value::from_wasmi).collect()),
                Err(e) => Err(value::wasmi_failure(&e)),
            };
            if result == Err(Failure::OutOfFuel) {
                break 'calls;
            }
            let exhausted = matches!(&result, Err(f) if f.is_stack_exhaustion());
            trace.calls.push(Call {
                func: name.clone(),
                args,
                result,
                state: state(&store, &instance, &trace.exports),
            });
            if exhausted {
                break 'calls;
            }
        }
    }
    Some(trace)
}

fn state(store: &Store<()>, instance: &wasmi::Instance, exports: &Exports) -> State {
    State {
        memories: exports
            .memories
            .iter()
            .filter_map(|n| instance.get_memory(store, n))
            .map(|m| m.data(store).to_vec())
            .collect(),
        globals: exports
            .globals
            .iter()
            .filter_map(|n| instance.get_global(store, n))
            .map(|g| value::from_wasmi(&g.get(store)))
            .collect(),
        tables: exports
            .tables
            .iter()
            .filter_map(|n| instance.get_table(store, n))
            .map(|t| {
                (0..t.size(store))
                    .map(|i| t.get(store, i).is_none_or(|r| r.is_null()))
                    .collect()
            })
            .collect(),
    }
}
