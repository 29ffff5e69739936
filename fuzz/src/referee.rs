//! The second opinion: when Lazuli and wasmi disagree, the same calls run in
//! Wasmtime. If every Lazuli configuration agrees with Wasmtime's trace, the case
//! is *disputed* (wasmi alone differs) rather than a divergence. wasmi 2.0.0 has
//! such bugs (`tests/regressions.rs`). Wasmtime shares Cranelift with Lazuli, so a
//! disputed case is reported with its seed, never dropped: check it against a
//! third, independent engine (V8, as README's Fuzzing section shows).

use crate::reference::{Call, Exports, State, Trace};
use crate::value::{self, ARGUMENT_SETS, Failure, Value};
use lazuli::Trap;
use wasmtime::{Config, Engine, Instance, Module, Store, Val, ValType};

fn engine() -> &'static Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        // wasm-smith's termination fuel bounds every run; the proposals the
        // generator leaves off stay off.
        config
            .wasm_tail_call(true)
            .wasm_multi_memory(true)
            .wasm_memory64(true)
            .wasm_relaxed_simd(false)
            .wasm_extended_const(true)
            .wasm_wide_arithmetic(false)
            .wasm_function_references(false)
            .wasm_gc(false);
        match Engine::new(&config) {
            Ok(engine) => engine,
            // Without it there is no referee at all: nothing to recover.
            Err(e) => panic!("cannot create a Wasmtime engine: {e:#}"),
        }
    })
}

/// Runs `bytes` in Wasmtime with the reference's calls, or `None` if Wasmtime
/// cannot load it.
pub fn run(bytes: &[u8]) -> Option<Trace> {
    let module = Module::new(engine(), bytes).ok()?;
    let exports = Exports::of(bytes);
    let mut store = Store::new(engine(), ());
    let instance = match Instance::new(&mut store, &module, &[]) {
        Ok(instance) => instance,
        Err(e) => {
            return Some(Trace {
                exports,
                instantiation: Err(failure(&e)),
                calls: Vec::new(),
            });
        }
    };
    let instantiation = Ok(state(&mut store, &instance, &exports));
    let calls = calls(&mut store, &instance, &exports);
    Some(Trace {
        exports,
        instantiation,
        calls,
    })
}

/// Every exported function with every argument set, up to the first call that
/// exhausts the stack.
fn calls(store: &mut Store<()>, instance: &Instance, exports: &Exports) -> Vec<Call> {
    let mut calls = Vec::new();
    for name in &exports.funcs {
        let Some(func) = instance.get_func(&mut *store, name) else {
            continue;
        };
        let ty = func.ty(&*store);
        for set in 0..ARGUMENT_SETS {
            let args: Vec<Value> = ty
                .params()
                .enumerate()
                .map(|(i, t)| value::argument(lazuli_type(&t), set, i))
                .collect();
            let inputs: Vec<Val> = args.iter().map(|v| to_wasmtime(*v)).collect();
            let mut outputs: Vec<Val> = ty
                .results()
                .map(|t| Val::default_for_ty(&t).unwrap_or(Val::I32(0)))
                .collect();
            let result = match func.call(&mut *store, &inputs, &mut outputs) {
                Ok(()) => Ok(outputs.iter().map(from_wasmtime).collect()),
                Err(e) => Err(failure(&e)),
            };
            let exhausted = matches!(&result, Err(f) if f.is_stack_exhaustion());
            calls.push(Call {
                func: name.clone(),
                args,
                result,
                state: state(&mut *store, instance, exports),
            });
            if exhausted {
                return calls;
            }
        }
    }
    calls
}

fn state(store: &mut Store<()>, instance: &Instance, exports: &Exports) -> State {
    let mut state = State {
        memories: Vec::new(),
        globals: Vec::new(),
        tables: Vec::new(),
    };
    for name in &exports.memories {
        if let Some(m) = instance.get_memory(&mut *store, name) {
            state.memories.push(m.data(&*store).to_vec());
        }
    }
    for name in &exports.globals {
        if let Some(g) = instance.get_global(&mut *store, name) {
            state.globals.push(from_wasmtime(&g.get(&mut *store)));
        }
    }
    for name in &exports.tables {
        if let Some(t) = instance.get_table(&mut *store, name) {
            let nulls = (0..t.size(&*store))
                .map(|i| t.get(&mut *store, i).is_none_or(|r| r.is_null()))
                .collect();
            state.tables.push(nulls);
        }
    }
    state
}

fn lazuli_type(ty: &ValType) -> lazuli::ValType {
    match ty {
        ValType::I32 => lazuli::ValType::I32,
        ValType::I64 => lazuli::ValType::I64,
        ValType::F32 => lazuli::ValType::F32,
        ValType::F64 => lazuli::ValType::F64,
        ValType::V128 => lazuli::ValType::V128,
        ValType::Ref(r) if r.heap_type().is_func() => lazuli::ValType::FUNCREF,
        ValType::Ref(_) => lazuli::ValType::EXTERNREF,
    }
}

fn to_wasmtime(v: Value) -> Val {
    match v {
        Value::I32(x) => Val::I32(x),
        Value::I64(x) => Val::I64(x),
        Value::F32(bits) => Val::F32(bits),
        Value::F64(bits) => Val::F64(bits),
        Value::V128(x) => Val::V128(x.into()),
        Value::FuncRef { .. } => Val::FuncRef(None),
        Value::ExternRef { .. } => Val::ExternRef(None),
    }
}

fn from_wasmtime(v: &Val) -> Value {
    match v {
        Val::I32(x) => Value::I32(*x),
        Val::I64(x) => Value::I64(*x),
        Val::F32(bits) => Value::F32(*bits),
        Val::F64(bits) => Value::F64(*bits),
        Val::V128(x) => Value::V128(x.as_u128()),
        Val::FuncRef(f) => Value::FuncRef { null: f.is_none() },
        Val::ExternRef(e) => Value::ExternRef { null: e.is_none() },
        // Generated modules have no other reference types.
        Val::AnyRef(a) => Value::ExternRef { null: a.is_none() },
        Val::ExnRef(e) => Value::ExternRef { null: e.is_none() },
        Val::ContRef(c) => Value::ExternRef { null: c.is_none() },
    }
}

fn failure(e: &wasmtime::Error) -> Failure {
    use wasmtime::Trap as W;
    let Some(code) = e.downcast_ref::<W>() else {
        return Failure::Other(format!("{e:#}"));
    };
    Failure::Trap(match code {
        W::UnreachableCodeReached => Trap::UnreachableCodeReached,
        W::MemoryOutOfBounds => Trap::MemoryOutOfBounds,
        W::TableOutOfBounds => Trap::TableOutOfBounds,
        W::IndirectCallToNull => Trap::IndirectCallToNull,
        W::IntegerDivisionByZero => Trap::IntegerDivisionByZero,
        W::IntegerOverflow => Trap::IntegerOverflow,
        W::BadConversionToInteger => Trap::BadConversionToInteger,
        W::StackOverflow => Trap::StackOverflow,
        W::BadSignature => Trap::BadSignature,
        other => return Failure::Other(format!("wasmtime trap {other:?}")),
    })
}
