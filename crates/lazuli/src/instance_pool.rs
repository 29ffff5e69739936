//! The pooling allocator's limits on live instances and tables
//! ([`crate::PoolingAllocationConfig`]), counted over all the stores of an
//! engine: each instance holds a [`PoolPermit`] for itself and the tables it
//! defines from its instantiation until its store drops.

use crate::PoolingAllocationConfig;
use anyhow::{Result, bail};
use std::sync::{Arc, Mutex, PoisonError};

/// An engine's counts of live pooled instances and tables, and their limits.
pub(crate) struct InstancePool {
    limits: PoolingAllocationConfig,
    live: Mutex<Live>,
}

#[derive(Default)]
struct Live {
    instances: u32,
    tables: u32,
}

impl InstancePool {
    pub(crate) fn new(limits: PoolingAllocationConfig) -> InstancePool {
        InstancePool {
            limits,
            live: Mutex::default(),
        }
    }

    /// The most elements a table an instance defines may have.
    pub(crate) fn table_elements(&self) -> u64 {
        self.limits.table_elements as u64
    }

    /// Counts one more instance defining `tables` tables, or fails if that
    /// would pass a limit.
    pub(crate) fn admit(self: &Arc<Self>, tables: u32) -> Result<PoolPermit> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let limits = &self.limits;
        if live.instances >= limits.total_core_instances {
            bail!(
                "the pool's limit of {} live instances is reached",
                limits.total_core_instances
            );
        }
        if live.tables.saturating_add(tables) > limits.total_tables {
            bail!(
                "the pool's limit of {} live tables is reached",
                limits.total_tables
            );
        }
        live.instances += 1;
        live.tables += tables;
        Ok(PoolPermit {
            pool: self.clone(),
            tables,
        })
    }
}

/// One live instance and its tables, counted until this is dropped.
pub(crate) struct PoolPermit {
    pool: Arc<InstancePool>,
    tables: u32,
}

impl Drop for PoolPermit {
    fn drop(&mut self) {
        let mut live = self
            .pool
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        live.instances -= 1;
        live.tables -= self.tables;
    }
}
