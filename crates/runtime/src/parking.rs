//! The process-wide parking table behind `memory.atomic.wait32/64` and
//! `memory.atomic.notify`: threads wait keyed by the native address they wait at
//! (shared memories never move, and one address is one location for every
//! store and thread), in one of a fixed number of buckets, each a mutex over
//! its waiters and a condition variable.
//!
//! A waiter compares the memory's value with the expected one while holding its
//! bucket's lock and queues itself before releasing it; a notifier takes the
//! same lock. So a notify that follows the store that changed the value either
//! finds the waiter queued or the waiter sees the new value: no wake-up is lost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How a wait ended, as `memory.atomic.wait` returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitResult {
    /// A notify woke it (0).
    Woken = 0,
    /// The value was not the expected one (1).
    NotEqual = 1,
    /// The timeout passed (2).
    TimedOut = 2,
    /// The waiter's `poll` asked it to stop (not a Wasm result: the caller traps).
    Stopped = 3,
}

/// How often a waiter with a `poll` calls it: the longest a stop request waits.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Buckets addresses are spread over; waiters of different addresses in one
/// bucket only share its lock and its wake-ups.
const BUCKETS: usize = 64;

struct Waiter {
    address: usize,
    ticket: u64,
    notified: bool,
}

struct Bucket {
    waiters: Mutex<Vec<Waiter>>,
    wake: Condvar,
}

static TABLE: [Bucket; BUCKETS] = [const {
    Bucket {
        waiters: Mutex::new(Vec::new()),
        wake: Condvar::new(),
    }
}; BUCKETS];

/// Tells waiters apart (a thread waits at most once at a time, but a ticket
/// needs no thread identity).
static NEXT_TICKET: AtomicU64 = AtomicU64::new(0);

fn bucket(address: usize) -> &'static Bucket {
    // Accesses are at least 4-byte aligned; mix the bits above so that nearby
    // words land in different buckets.
    let hash = (address >> 2).wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize);
    &TABLE[(hash >> (usize::BITS - BUCKETS.trailing_zeros())) % BUCKETS]
}

/// The lock of `bucket`; a panic elsewhere while holding it left the list whole
/// (every change is one push, remove or flag write), so poison is ignored.
fn lock(bucket: &Bucket) -> MutexGuard<'_, Vec<Waiter>> {
    bucket
        .waiters
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Waits at `address` until notified or `timeout` (forever if `None`) has
/// passed, if `expected()`, evaluated under the bucket's lock, says the value
/// there is still the expected one. With a `poll`, the waiter calls it every
/// [`POLL_INTERVAL`], without the lock and still queued (so no notify is lost
/// meanwhile), and stops waiting when it returns true.
pub fn wait(
    address: usize,
    expected: impl FnOnce() -> bool,
    timeout: Option<Duration>,
    mut poll: Option<&mut dyn FnMut() -> bool>,
) -> WaitResult {
    let bucket = bucket(address);
    let mut waiters = lock(bucket);
    if !expected() {
        return WaitResult::NotEqual;
    }
    let ticket = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
    waiters.push(Waiter {
        address,
        ticket,
        notified: false,
    });
    // A timeout too large for an `Instant` is as good as none.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let position = waiters.iter().position(|w| w.ticket == ticket);
        // Only this thread removes its entry; gone, it could not be woken again.
        let Some(position) = position else {
            return WaitResult::Woken;
        };
        if waiters[position].notified {
            waiters.remove(position);
            return WaitResult::Woken;
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            waiters.remove(position);
            return WaitResult::TimedOut;
        }
        let slice = match (deadline, &poll) {
            (Some(d), Some(_)) => Some((d - now).min(POLL_INTERVAL)),
            (Some(d), None) => Some(d - now),
            (None, Some(_)) => Some(POLL_INTERVAL),
            (None, None) => None,
        };
        waiters = match slice {
            None => bucket
                .wake
                .wait(waiters)
                .unwrap_or_else(PoisonError::into_inner),
            Some(slice) => {
                let (waiters, _) = bucket
                    .wake
                    .wait_timeout(waiters, slice)
                    .unwrap_or_else(PoisonError::into_inner);
                waiters
            }
        };
        if let Some(poll) = poll.as_mut() {
            drop(waiters);
            let stop = poll();
            waiters = lock(bucket);
            if stop {
                waiters.retain(|w| w.ticket != ticket);
                return WaitResult::Stopped;
            }
        }
    }
}

/// Wakes up to `count` of the threads waiting at `address`, longest waiting
/// first; the number woken.
pub fn notify(address: usize, count: u32) -> u32 {
    let bucket = bucket(address);
    let mut waiters = lock(bucket);
    let mut woken = 0;
    for waiter in waiters
        .iter_mut()
        .filter(|w| w.address == address && !w.notified)
    {
        if woken == count {
            break;
        }
        waiter.notified = true;
        woken += 1;
    }
    drop(waiters);
    if woken > 0 {
        bucket.wake.notify_all();
    }
    woken
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn a_changed_value_does_not_wait() {
        let result = wait(0x1000, || false, None, None);
        assert_eq!(result, WaitResult::NotEqual);
    }

    #[test]
    fn a_wait_without_notify_times_out() {
        let start = Instant::now();
        let result = wait(0x2000, || true, Some(Duration::from_millis(20)), None);
        assert_eq!(result, WaitResult::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert_eq!(notify(0x2000, 1), 0, "the timed-out waiter left the table");
    }

    #[test]
    fn notify_wakes_at_most_count_waiters_of_its_address() {
        let cell = Arc::new(AtomicU32::new(0));
        let address = Arc::as_ptr(&cell) as usize;
        let waiting: Vec<_> = (0..3)
            .map(|_| {
                let cell = cell.clone();
                std::thread::spawn(move || {
                    wait(address, || cell.load(Ordering::SeqCst) == 0, None, None)
                })
            })
            .collect();
        // Wait until all three are queued.
        while lock(bucket(address))
            .iter()
            .filter(|w| w.address == address)
            .count()
            < 3
        {
            std::thread::yield_now();
        }
        assert_eq!(notify(address + 4, 10), 0, "another address");
        assert_eq!(notify(address, 2), 2);
        assert_eq!(notify(address, 5), 1);
        for thread in waiting {
            assert_eq!(thread.join().unwrap(), WaitResult::Woken);
        }
        assert_eq!(notify(address, 5), 0);
    }

    #[test]
    fn a_waiter_stops_when_its_poll_says_so_and_leaves_the_table() {
        let mut polls = 0;
        let mut poll = || {
            polls += 1;
            polls == 3
        };
        let result = wait(0x3000, || true, None, Some(&mut poll));
        assert_eq!(result, WaitResult::Stopped);
        assert_eq!(polls, 3);
        assert_eq!(notify(0x3000, 1), 0, "the stopped waiter left the table");
    }

    #[test]
    fn a_polling_waiter_still_times_out_and_is_woken() {
        let mut never = || false;
        let timeout = Some(Duration::from_millis(12));
        assert_eq!(
            wait(0x4000, || true, timeout, Some(&mut never)),
            WaitResult::TimedOut
        );
        let cell = Arc::new(AtomicU32::new(0));
        let address = Arc::as_ptr(&cell) as usize;
        let waiter = std::thread::spawn(move || {
            let mut never = || false;
            wait(address, || true, None, Some(&mut never))
        });
        while notify(address, 1) == 0 {
            std::thread::yield_now();
        }
        assert_eq!(waiter.join().unwrap(), WaitResult::Woken);
    }
}
