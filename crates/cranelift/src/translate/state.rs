//! The translator's state while walking one function body: the Wasm value stack as
//! Cranelift SSA values, and the stack of open control frames.

use cranelift_codegen::ir::{Block, Value};

/// What kind of construct a control frame was opened by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// `block`, and the function body itself.
    Block,
    /// `loop`: branches go to `header`.
    Loop { header: Block },
    /// `if`: `else_block` is where the false arm starts; `else_seen` once `else` ran.
    If {
        else_block: Block,
        else_seen: bool,
        /// Whether the `if` itself was reachable (the false arm is then reachable).
        head_reachable: bool,
    },
}

/// One open `block`, `loop` or `if`.
#[derive(Debug, Clone)]
pub struct ControlFrame {
    pub kind: FrameKind,
    /// Where control goes after `end`; its parameters are the frame's results.
    pub next: Block,
    pub num_params: usize,
    pub num_results: usize,
    /// Stack height below the frame's parameters when it was opened.
    pub stack_base: usize,
    /// Whether any branch targets `next` (so the code after `end` is reachable).
    pub next_branched_to: bool,
}

impl ControlFrame {
    /// The block a branch to this frame jumps to, and how many values it carries.
    pub fn branch_target(&self) -> (Block, usize) {
        match self.kind {
            FrameKind::Loop { header } => (header, self.num_params),
            _ => (self.next, self.num_results),
        }
    }
}

/// The value and control stacks of the function being translated.
#[derive(Debug, Default)]
pub struct FuncState {
    pub stack: Vec<Value>,
    pub control: Vec<ControlFrame>,
    /// False after an unconditional branch until the next reachable `end`/`else`.
    pub reachable: bool,
}

impl FuncState {
    /// Empties both stacks, keeping their allocations.
    pub fn clear(&mut self) {
        self.stack.clear();
        self.control.clear();
        self.reachable = false;
    }

    pub fn push1(&mut self, v: Value) {
        self.stack.push(v);
    }

    /// Pops one value. Validation guarantees the stack is deep enough.
    pub fn pop1(&mut self) -> Value {
        self.stack.pop().expect("validated: value stack underflow")
    }

    /// Pops two values, returning them in push order.
    pub fn pop2(&mut self) -> (Value, Value) {
        let b = self.pop1();
        let a = self.pop1();
        (a, b)
    }

    /// Pops three values, returning them in push order.
    pub fn pop3(&mut self) -> (Value, Value, Value) {
        let c = self.pop1();
        let (a, b) = self.pop2();
        (a, b, c)
    }

    /// The top `n` values, in push order.
    pub fn peekn(&self, n: usize) -> &[Value] {
        &self.stack[self.stack.len() - n..]
    }

    /// Removes the top `n` values.
    pub fn popn(&mut self, n: usize) {
        let len = self.stack.len() - n;
        self.stack.truncate(len);
    }

    /// The control frame `depth` levels out from the innermost.
    pub fn frame(&mut self, depth: u32) -> &mut ControlFrame {
        let i = self.control.len() - 1 - depth as usize;
        &mut self.control[i]
    }
}
