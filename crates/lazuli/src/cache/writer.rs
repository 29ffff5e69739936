//! The thread that writes a cache's entries, so that compiling never waits for
//! the file system (a first run of python3.11.wasm writes over two thousand).
//! Jobs are done in the order they were sent; dropping the writer finishes them.

use super::Key;
use super::dir::Dir;
use crate::codec::Bounds;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

pub(super) enum Job {
    /// Write this entry file under this key.
    Write { key: Key, bytes: Vec<u8> },
    /// Set the TIERED flag of the first-tier entry under this key.
    MarkTiered { key: Key, bounds: Bounds },
    /// Say when the jobs before are done.
    Flush(Sender<()>),
}

pub(super) struct Writer {
    dir: Arc<Dir>,
    /// The queue and the thread, started by the first job.
    started: Mutex<Option<(Sender<Job>, JoinHandle<()>)>>,
}

impl Writer {
    pub(super) fn new(dir: Arc<Dir>) -> Writer {
        Writer {
            dir,
            started: Mutex::new(None),
        }
    }

    /// Queues `job`, starting the thread if this is the first; does the job here
    /// if no thread can be started.
    pub(super) fn send(&self, job: Job) {
        let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        if started.is_none() {
            *started = self.spawn();
        }
        let job = match started.as_ref() {
            Some((queue, _)) => match queue.send(job) {
                Ok(()) => return,
                Err(refused) => refused.0,
            },
            None => job,
        };
        drop(started);
        run(&self.dir, job);
    }

    /// Returns when every job sent before is done.
    pub(super) fn flush(&self) {
        let (done, finished) = channel();
        self.send(Job::Flush(done));
        // Done inline, or by the thread; an error means the thread is gone.
        let _ = finished.recv();
    }

    fn spawn(&self) -> Option<(Sender<Job>, JoinHandle<()>)> {
        let (queue, jobs) = channel();
        let dir = self.dir.clone();
        let thread = std::thread::Builder::new()
            .name("lazuli-cache".to_string())
            .spawn(move || jobs.iter().for_each(|job| run(&dir, job)))
            .ok()?;
        Some((queue, thread))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let started = self
            .started
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((queue, thread)) = started.take() {
            drop(queue);
            let _ = thread.join();
        }
    }
}

fn run(dir: &Dir, job: Job) {
    match job {
        Job::Write { key, bytes } => dir.write(&key, &bytes),
        Job::MarkTiered { key, bounds } => dir.mark_tiered(&key, &bounds),
        Job::Flush(done) => {
            let _ = done.send(());
        }
    }
}
