//! The progress bar of long eager compiles (`lazuli compile`, `lazuli run
//! --compile eager`): drawn on stderr while a module of many functions compiles,
//! and only when stderr is a terminal, so that piped or logged output never holds
//! it.

use std::io::IsTerminal as _;
use std::sync::{Mutex, PoisonError};

use indicatif::{ProgressBar, ProgressStyle};
use lazuli::Config;

/// Modules with fewer defined functions than this compile too fast for a bar.
const MIN_FUNCTIONS: usize = 200;

/// How the bar looks.
const TEMPLATE: &str = "compiling {pos}/{len} functions {wide_bar}";

/// Makes engines of `config` draw a progress bar while they compile a module of
/// at least [`MIN_FUNCTIONS`] functions eagerly, if stderr is a terminal.
pub fn show_on_terminal(config: &mut Config) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    // The bar of the module being compiled; modules compile one at a time.
    let current: Mutex<Option<ProgressBar>> = Mutex::new(None);
    config.compile_progress(move |done, total| {
        if total < MIN_FUNCTIONS {
            return;
        }
        let mut current = current.lock().unwrap_or_else(PoisonError::into_inner);
        let bar = current.get_or_insert_with(|| new_bar(total));
        bar.set_position(done as u64);
        if done == total {
            bar.finish_and_clear();
            *current = None;
        }
    });
}

/// A bar on stderr counting up to `total` functions.
fn new_bar(total: usize) -> ProgressBar {
    let style =
        ProgressStyle::with_template(TEMPLATE).unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(total as u64).with_style(style)
}
