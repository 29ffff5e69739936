//! What generated code does so that no guest can hang its host: consume fuel
//! (`CompilerOptions::consume_fuel`) and check the engine's epoch against the
//! store's deadline (`CompilerOptions::epoch_interruption`), both at function
//! entry and at every loop header, the places tier-up counts at.
//!
//! Fuel follows Wasmtime's accounting: each operator costs
//! [`operator_cost`] (1, or 0 for `nop`, `drop` and the structural operators),
//! costs are summed at translation time over straight-line code and added to a
//! variable at each block boundary, and the variable holds the store context's
//! `FUEL_CONSUMED` (a count that starts negative and runs out at 0) between
//! calls: it is loaded at entry and after each call and written back before each
//! call, `unreachable` and return, so a host function, or the host after a
//! trap or return, reads the exact count. A trap raised by another instruction
//! (an access out of bounds, say) leaves the count where the function last
//! wrote it back, as in Wasmtime.

use crate::CompilerOptions;
use crate::func_environ::{call_builtin, readonly, trusted};
use crate::trap::trap_code;
use cranelift_codegen::ir::{InstBuilder, Value, condcodes::IntCC, types};
use cranelift_codegen::isa::TargetIsa;
use cranelift_frontend::{FunctionBuilder, Variable};
use lazuli_environ::{Builtin, TrapKind, store_ctx};
use wasmparser::Operator;

/// The fuel an operator costs: Wasmtime's default costs.
pub fn operator_cost(op: &Operator<'_>) -> i64 {
    match op {
        // No code of their own.
        Operator::Nop | Operator::Drop => 0,
        // Structure rather than work; `if` is not among them, its test is work.
        Operator::Block { .. }
        | Operator::Loop { .. }
        | Operator::Unreachable
        | Operator::Return
        | Operator::Else
        | Operator::End => 0,
        _ => 1,
    }
}

/// What an operator does to the fuel variable before it is translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Boundary {
    /// Nothing: its cost joins the pending sum of straight-line code.
    None,
    /// It ends a block (or starts a loop): the pending sum goes into the
    /// variable.
    Block,
    /// It leaves the function or calls another one: the pending sum goes into
    /// the variable, which is written back to the store context.
    Leave,
}

fn boundary(op: &Operator<'_>) -> Boundary {
    match op {
        Operator::Unreachable
        | Operator::Call { .. }
        | Operator::CallIndirect { .. }
        | Operator::CallRef { .. }
        | Operator::ReturnCall { .. }
        | Operator::ReturnCallIndirect { .. }
        | Operator::ReturnCallRef { .. } => Boundary::Leave,
        // `return` jumps to the function's exit, which writes the variable back.
        Operator::Return
        | Operator::Loop { .. }
        | Operator::If { .. }
        | Operator::Else
        | Operator::End
        | Operator::Br { .. }
        | Operator::BrIf { .. }
        | Operator::BrOnNull { .. }
        | Operator::BrOnNonNull { .. }
        | Operator::BrTable { .. } => Boundary::Block,
        _ => Boundary::None,
    }
}

/// The interruption checks of one function being translated.
pub struct Interrupts<'a> {
    isa: &'a dyn TargetIsa,
    /// Where the VMContext holds its store context pointer.
    store_ctx: u32,
    /// With fuel: the fuel variable (declared at the first use) and the cost of
    /// the operators translated since the last block boundary.
    fuel: Option<(Option<Variable>, i64)>,
    /// With epochs: the variable holding the store's deadline (declared at the
    /// first use). Only the host changes the deadline, so the variable is
    /// loaded where the count of fuel is, at entry and after each call, and
    /// after the `NewEpoch` builtin.
    deadline: Option<Option<Variable>>,
}

impl<'a> Interrupts<'a> {
    /// The checks `options` ask for, in code for `isa` whose VMContext holds its
    /// store context pointer at `store_ctx`.
    pub fn new(isa: &'a dyn TargetIsa, options: &CompilerOptions, store_ctx: u32) -> Self {
        Interrupts {
            isa,
            store_ctx,
            fuel: options.consume_fuel.then_some((None, 0)),
            deadline: options.epoch_interruption.then_some(None),
        }
    }

    /// At function entry: loads the fuel and the deadline and checks them.
    pub fn function_entry(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value) {
        self.load_state(b, vmctx);
        self.check(b, vmctx);
    }

    /// At a loop header: checks the fuel and the epoch.
    pub fn loop_header(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value) {
        self.check(b, vmctx);
    }

    /// In an OSR entry's entry block: loads the fuel the code that left for it
    /// wrote back (see [`Interrupts::before_leaving`]), and the deadline.
    pub fn enter_at_loop(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value) {
        self.load_state(b, vmctx);
    }

    /// Before the function returns, or tail-calls its OSR entry: writes the fuel
    /// back.
    pub fn before_leaving(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value) {
        self.save_fuel(b, vmctx);
    }

    /// Before operator `op` (in reachable code) is translated.
    pub fn before_operator(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value, op: &Operator) {
        let Some((_, pending)) = &mut self.fuel else {
            return;
        };
        *pending += operator_cost(op);
        match boundary(op) {
            Boundary::None => {}
            Boundary::Block => self.flush(b),
            Boundary::Leave => {
                self.flush(b);
                self.save_fuel(b, vmctx);
            }
        }
    }

    /// After operator `op` was translated, if the code after it is reachable.
    pub fn after_operator(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value, op: &Operator) {
        if matches!(
            op,
            Operator::Call { .. } | Operator::CallIndirect { .. } | Operator::CallRef { .. }
        ) {
            // The callee, or the host, may have used or set fuel, or moved the
            // deadline.
            self.load_state(b, vmctx);
        }
    }

    /// The fuel variable, declared at its first use.
    fn fuel_var(&mut self, b: &mut FunctionBuilder<'_>) -> Option<Variable> {
        let (var, _) = self.fuel.as_mut()?;
        Some(*var.get_or_insert_with(|| b.declare_var(types::I64)))
    }

    /// The store context's address.
    fn store(&self, b: &mut FunctionBuilder<'_>, vmctx: Value) -> Value {
        b.ins()
            .load(types::I64, readonly(), vmctx, self.store_ctx as i32)
    }

    /// Loads what the variables hold from the store context.
    fn load_state(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value) {
        self.load_fuel(b, vmctx);
        self.load_deadline(b, vmctx);
    }

    fn load_deadline(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value) {
        let Some(var) = self.deadline_var(b) else {
            return;
        };
        let store = self.store(b, vmctx);
        let offset = store_ctx::EPOCH_DEADLINE as i32;
        let deadline = b.ins().load(types::I64, trusted(), store, offset);
        b.def_var(var, deadline);
    }

    /// The deadline variable, declared at its first use.
    fn deadline_var(&mut self, b: &mut FunctionBuilder<'_>) -> Option<Variable> {
        let var = self.deadline.as_mut()?;
        Some(*var.get_or_insert_with(|| b.declare_var(types::I64)))
    }

    fn load_fuel(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value) {
        let Some(var) = self.fuel_var(b) else {
            return;
        };
        let store = self.store(b, vmctx);
        let offset = store_ctx::FUEL_CONSUMED as i32;
        let consumed = b.ins().load(types::I64, trusted(), store, offset);
        b.def_var(var, consumed);
    }

    fn save_fuel(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value) {
        let Some(var) = self.fuel_var(b) else {
            return;
        };
        let consumed = b.use_var(var);
        let store = self.store(b, vmctx);
        let offset = store_ctx::FUEL_CONSUMED as i32;
        b.ins().store(trusted(), consumed, store, offset);
    }

    /// Adds the pending cost to the fuel variable.
    fn flush(&mut self, b: &mut FunctionBuilder<'_>) {
        let Some(var) = self.fuel_var(b) else {
            return;
        };
        let Some((_, pending)) = &mut self.fuel else {
            return;
        };
        let cost = std::mem::take(pending);
        if cost != 0 {
            let consumed = b.use_var(var);
            let consumed = b.ins().iadd_imm_s(consumed, cost);
            b.def_var(var, consumed);
        }
    }

    fn check(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value) {
        self.check_fuel(b, vmctx);
        self.check_epoch(b, vmctx);
    }

    /// Traps with `OutOfFuel` (after writing the count back) unless the count is
    /// still negative.
    fn check_fuel(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value) {
        self.flush(b);
        let Some(var) = self.fuel_var(b) else {
            return;
        };
        let consumed = b.use_var(var);
        let used_up = b
            .ins()
            .icmp_imm_s(IntCC::SignedGreaterThanOrEqual, consumed, 0);
        let (out, go_on) = (b.create_block(), b.create_block());
        b.ins().brif(used_up, out, &[], go_on, &[]);
        b.set_cold_block(out);
        b.seal_block(out);
        b.switch_to_block(out);
        self.save_fuel(b, vmctx);
        b.ins().trap(trap_code(TrapKind::OutOfFuel));
        b.switch_to_block(go_on);
        b.seal_block(go_on);
    }

    /// Once the engine's epoch is at or past the deadline variable, calls the
    /// `NewEpoch` builtin (the fuel written back around it, since the host runs),
    /// trapping as it says or going on under the deadline it set.
    fn check_epoch(&mut self, b: &mut FunctionBuilder<'_>, vmctx: Value) {
        let Some(var) = self.deadline_var(b) else {
            return;
        };
        let store = self.store(b, vmctx);
        let counter = b.ins().load(
            types::I64,
            readonly(),
            store,
            store_ctx::EPOCH_COUNTER as i32,
        );
        let epoch = b.ins().load(types::I64, trusted(), counter, 0);
        let deadline = b.use_var(var);
        let reached = b
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, epoch, deadline);
        let (new_epoch, go_on) = (b.create_block(), b.create_block());
        b.ins().brif(reached, new_epoch, &[], go_on, &[]);
        b.set_cold_block(new_epoch);
        b.seal_block(new_epoch);
        b.switch_to_block(new_epoch);
        self.save_fuel(b, vmctx);
        let status = call_builtin(b, self.isa, vmctx, Builtin::NewEpoch, &[]);
        b.ins().trapz(status, trap_code(TrapKind::Interrupt));
        let failed = b.ins().icmp_imm_u(IntCC::Equal, status, 2);
        b.ins().trapnz(failed, trap_code(TrapKind::HostError));
        self.load_state(b, vmctx);
        b.ins().jump(go_on, &[]);
        b.switch_to_block(go_on);
        b.seal_block(go_on);
    }
}
