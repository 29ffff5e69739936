//! Sample bookkeeping shared by the benches: criterion measures, and each bench also
//! keeps its own per-iteration means to print ratios at the end.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Per-iteration times of each benchmark's measured samples, for the summary
/// printed at the end.
static SAMPLES: Mutex<BTreeMap<String, Vec<(u64, Duration)>>> = Mutex::new(BTreeMap::new());

pub fn record(label: &str, iters: u64, elapsed: Duration) {
    SAMPLES
        .lock()
        .unwrap()
        .entry(label.to_string())
        .or_default()
        .push((iters, elapsed));
}

/// The mean time per iteration, in seconds, over the last `samples` calls of `label`'s
/// routine (criterion's measured samples follow its warm-up calls).
pub fn mean(label: &str, samples: usize) -> Option<f64> {
    let all = SAMPLES.lock().unwrap();
    let runs = all.get(label)?;
    let measured = &runs[runs.len().checked_sub(samples)?..];
    let iters: u64 = measured.iter().map(|(i, _)| i).sum();
    let total: Duration = measured.iter().map(|(_, d)| *d).sum();
    Some(total.as_secs_f64() / iters as f64)
}
