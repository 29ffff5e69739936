//! Stopping guests: the store's fuel ([`crate::Config::consume_fuel`]) and its
//! epoch deadline ([`crate::Config::epoch_interruption`]). The code generator's
//! side is `lazuli_cranelift`'s `interrupt.rs`; this is the API over the two
//! store context fields that code reads, and the store's answer when the
//! deadline is reached.

use crate::store::{StoreContextMut, StoreInner, StoreOpaque};
use crate::{Caller, Store};
use anyhow::{Result, bail};
use lazuli_runtime::{EpochOutcome, HostFailure, record_host_failure};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What Wasm does once the engine's epoch reaches its store's deadline and the
/// store's [`Store::epoch_deadline_callback`] has run.
///
/// Wasmtime also has `Yield`, which suspends an async call; Lazuli has no async
/// calls, so a callback that wants the guest stopped returns an error (which
/// the call into Wasm then returns) instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateDeadline {
    /// Go on running, with a new deadline this many epochs after the current
    /// one.
    Continue(u64),
}

/// The deadline callback of a store with data `T`.
pub(crate) type EpochCallback<T> =
    Box<dyn FnMut(StoreContextMut<'_, T>) -> Result<UpdateDeadline> + Send + Sync>;

/// The store context's fuel count and deadline are read and written here only
/// while no Wasm of the store runs, or while it is suspended in a host call or
/// the deadline callback, when generated code has written its fuel count back
/// and reloads it on return.
impl StoreOpaque {
    /// Fails unless the engine consumes fuel, as Wasmtime does.
    fn fuel_enabled(&self) -> Result<()> {
        if !self.engine.config().consume_fuel {
            bail!("fuel is not enabled in this store's engine (`Config::consume_fuel`)");
        }
        Ok(())
    }

    pub(crate) fn get_fuel(&self) -> Result<u64> {
        self.fuel_enabled()?;
        // SAFETY: the store context lives as long as the store; no generated
        // code uses its fuel count while the host holds the store (see above).
        let consumed = unsafe { (*self.vm()).fuel_consumed };
        Ok(consumed.saturating_neg().max(0) as u64)
    }

    pub(crate) fn set_fuel(&mut self, fuel: u64) -> Result<()> {
        self.fuel_enabled()?;
        let fuel = i64::try_from(fuel).unwrap_or(i64::MAX);
        // SAFETY: as in `get_fuel`.
        unsafe { (*self.vm()).fuel_consumed = -fuel };
        Ok(())
    }

    pub(crate) fn set_epoch_deadline(&mut self, ticks_beyond_current: u64) {
        let deadline = self
            .engine
            .current_epoch()
            .saturating_add(ticks_beyond_current);
        // SAFETY: as in `get_fuel`; generated code only reads the deadline.
        unsafe { (*self.vm()).epoch_deadline = deadline };
    }
}

impl<T> StoreInner<T> {
    /// Runs the deadline behaviour: without a callback, trap; with one, what it
    /// says (its error or panic is recorded for the entry into Wasm to return).
    fn epoch_deadline_reached(&mut self) -> EpochOutcome {
        let Some(mut callback) = self.epoch_callback.take() else {
            return EpochOutcome::Interrupt;
        };
        let result = catch_unwind(AssertUnwindSafe(|| callback(StoreContextMut(self))));
        // Unless the callback installed another behaviour, it stays.
        if self.epoch_callback.is_none() {
            self.epoch_callback = Some(callback);
        }
        match result {
            Ok(Ok(UpdateDeadline::Continue(delta))) => {
                self.opaque.set_epoch_deadline(delta);
                EpochOutcome::Continue
            }
            Ok(Err(error)) => {
                record_host_failure(HostFailure::Error(Box::new(error)));
                EpochOutcome::Failed
            }
            Err(panic) => {
                record_host_failure(HostFailure::Panic(panic));
                EpochOutcome::Failed
            }
        }
    }
}

/// The `NewEpoch` builtin's way into the store of the running entry into Wasm.
///
/// # Safety
/// `store` must be a live `StoreInner<T>` that nothing else uses during the call.
pub(crate) unsafe fn epoch_deadline_reached<T>(store: *mut ()) -> EpochOutcome {
    // SAFETY: per the contract.
    let store = unsafe { &mut *store.cast::<StoreInner<T>>() };
    store.epoch_deadline_reached()
}

/// The fuel and epoch-deadline methods, the same on [`Store`],
/// [`StoreContextMut`] and [`Caller`], each given the path to its `StoreInner`.
macro_rules! interruption_methods {
    ($($ty:ty => $($inner:tt).+;)*) => {$(
        impl<T> $ty {
            /// The fuel left. Fails unless [`crate::Config::consume_fuel`] is on.
            pub fn get_fuel(&self) -> Result<u64> {
                self.$($inner).+.opaque.get_fuel()
            }

            /// Gives the store `fuel` units of fuel (replacing what it had; more
            /// than `i64::MAX` counts as `i64::MAX`). Each Wasm operator costs one
            /// unit, `nop`, `drop`, `block`, `loop`, `end`, `else`, `return` and
            /// `unreachable` none, as in Wasmtime; Wasm that runs out traps with
            /// [`crate::Trap::OutOfFuel`] at its next function entry or loop
            /// header. A store starts with none. Fails unless
            /// [`crate::Config::consume_fuel`] is on.
            pub fn set_fuel(&mut self, fuel: u64) -> Result<()> {
                self.$($inner).+.opaque.set_fuel(fuel)
            }

            /// Sets the deadline this many ticks of [`crate::Engine::increment_epoch`]
            /// after the current epoch: Wasm of this store that is running then
            /// stops at its next function entry or loop header and runs the
            /// store's deadline behaviour. A store's deadline starts at 0, so with
            /// [`crate::Config::epoch_interruption`] on, Wasm stops at once until
            /// a deadline is set, as in Wasmtime.
            pub fn set_epoch_deadline(&mut self, ticks_beyond_current: u64) {
                self.$($inner).+.opaque.set_epoch_deadline(ticks_beyond_current);
            }
        }
    )*};
}

interruption_methods! {
    Store<T> => inner;
    StoreContextMut<'_, T> => 0;
    Caller<'_, T> => store.0;
}

impl<T> Store<T> {
    /// Makes reaching the epoch deadline trap with [`crate::Trap::Interrupt`]
    /// (the default behaviour), replacing any callback.
    pub fn epoch_deadline_trap(&mut self) {
        self.inner.epoch_callback = None;
    }

    /// Makes reaching the epoch deadline call `callback`, which may look at and
    /// change the store, and then either lets Wasm go on under a new deadline
    /// ([`UpdateDeadline::Continue`]) or stops it with an error that the call
    /// into Wasm returns.
    pub fn epoch_deadline_callback(
        &mut self,
        callback: impl FnMut(StoreContextMut<'_, T>) -> Result<UpdateDeadline> + Send + Sync + 'static,
    ) {
        self.inner.epoch_callback = Some(Box::new(callback));
    }
}
