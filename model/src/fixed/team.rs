//! The threads of one decode step. A token of a model the size of SmolLM2 is about 150 parallel
//! jobs (the products of each layer, its attention heads) of tens of microseconds each, with a
//! little serial work between them. A pool whose idle workers sleep pays a wake-up per job; the
//! team's helpers instead spin (yielding the core after a while) for the length of the step, so
//! a job starts on every thread at once.
//!
//! [`Team::with`] runs a step with the team as its thread's executor; [`for_each_mut`] runs a
//! job on the current thread's team, or on the rayon pool where there is none.

use rayon::prelude::*;
use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Mutex;

/// `f` on every item, in parallel: on the current thread's team (inside [`Team::with`]), else
/// on the rayon pool.
pub(super) fn for_each_mut<T: Send>(items: &mut [T], f: impl Fn(&mut T) + Sync) {
    let team = CURRENT.with(Cell::get);
    if team.is_null() {
        items.par_iter_mut().for_each(&f);
        return;
    }
    let base = Items(items.as_mut_ptr());
    let n = items.len();
    let task = |i: usize| {
        debug_assert!(i < n);
        // SAFETY: `Team::run` calls this once for each `i < n`, so each item is borrowed
        // mutably by one task only, and `items` outlives the job.
        f(unsafe { &mut *base.at(i) })
    };
    // Nested jobs (none today) would go to the pool rather than into the running one.
    CURRENT.with(|c| c.set(std::ptr::null()));
    // SAFETY: `CURRENT` is set only inside `Team::with`, whose team outlives that call.
    let result = catch_unwind(AssertUnwindSafe(|| unsafe { &*team }.run(n, &task)));
    CURRENT.with(|c| c.set(team));
    if let Err(p) = result {
        resume_unwind(p);
    }
}

/// The threads [`for_each_mut`] spreads a job over: the current team's, else the pool's.
pub(super) fn threads() -> usize {
    let team = CURRENT.with(Cell::get);
    if team.is_null() {
        rayon::current_num_threads()
    } else {
        // SAFETY: `CURRENT` is set only inside `Team::with`, whose team outlives that call.
        unsafe { &*team }.helpers + 1
    }
}

/// A base pointer that tasks on other threads index (see [`for_each_mut`]).
struct Items<T>(*mut T);
// SAFETY: the tasks reach disjoint items (`T: Send`) through it.
unsafe impl<T: Send> Sync for Items<T> {}
impl<T> Items<T> {
    fn at(&self, i: usize) -> *mut T {
        // SAFETY: `i` is within the slice the pointer came from (the caller's contract).
        unsafe { self.0.add(i) }
    }
}

thread_local! {
    static CURRENT: Cell<*const Team> = const { Cell::new(std::ptr::null()) };
}

/// The epoch that tells the helpers to leave.
const STOP: usize = usize::MAX;

/// Busy-wait rounds before a waiting thread starts yielding its core.
const SPINS: u32 = 1 << 12;

/// One job: `tasks` calls of `f`, claimed one at a time.
struct Job {
    /// The caller's closure, its lifetime erased: `Team::run` does not return before every
    /// helper has checked out of the job.
    f: *const (dyn Fn(usize) + Sync),
    tasks: usize,
    next: AtomicUsize,
}

/// A step's threads: the caller and `helpers` more.
pub(super) struct Team {
    helpers: usize,
    /// Bumped for each job; [`STOP`] ends the helpers.
    epoch: AtomicUsize,
    job: AtomicPtr<Job>,
    /// Helpers done with the current job.
    checked_out: AtomicUsize,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Team {
    /// Runs `step` with a team of `threads` threads (the caller among them) as this thread's
    /// executor for [`for_each_mut`]; with one thread, `step` runs alone.
    pub(super) fn with<R>(threads: usize, step: impl FnOnce() -> R) -> R {
        if threads <= 1 {
            return step();
        }
        let team = Team {
            helpers: threads - 1,
            epoch: AtomicUsize::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            checked_out: AtomicUsize::new(0),
            panic: Mutex::new(None),
        };
        std::thread::scope(|s| {
            for _ in 0..team.helpers {
                s.spawn(|| team.help());
            }
            /// Ends the helpers and clears `CURRENT`, on return or unwinding.
            struct Leave<'a>(&'a Team);
            impl Drop for Leave<'_> {
                fn drop(&mut self) {
                    CURRENT.with(|c| c.set(std::ptr::null()));
                    self.0.epoch.store(STOP, Ordering::Release);
                }
            }
            let _leave = Leave(&team);
            CURRENT.with(|c| c.set(&team));
            step()
        })
    }

    /// A helper's life: wait for a job, take its tasks, check out; until [`STOP`].
    fn help(&self) {
        let mut seen = 0;
        loop {
            let epoch = wait(|| {
                let e = self.epoch.load(Ordering::Acquire);
                (e != seen).then_some(e)
            });
            if epoch == STOP {
                return;
            }
            seen = epoch;
            // SAFETY: the job was stored before the epoch was bumped (release/acquire), and
            // `run` keeps it alive until this helper checks out below.
            self.work(unsafe { &*self.job.load(Ordering::Acquire) });
            self.checked_out.fetch_add(1, Ordering::Release);
        }
    }

    /// `f(i)` for every `i < tasks`, spread over the team; returns when all are done (and
    /// re-raises a task's panic).
    fn run(&self, tasks: usize, f: &(dyn Fn(usize) + Sync)) {
        // SAFETY: only the lifetime is erased; see `Job::f`.
        let f: &'static (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(f) };
        let job = Job {
            f,
            tasks,
            next: AtomicUsize::new(0),
        };
        self.checked_out.store(0, Ordering::Relaxed);
        self.job
            .store(&job as *const Job as *mut Job, Ordering::Release);
        self.epoch.fetch_add(1, Ordering::Release);
        self.work(&job);
        wait(|| (self.checked_out.load(Ordering::Acquire) == self.helpers).then_some(()));
        let panic = self.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(p) = panic {
            resume_unwind(p);
        }
    }

    /// Claims and runs tasks until none are left; a panic is kept for `run` to re-raise.
    fn work(&self, job: &Job) {
        loop {
            let i = job.next.fetch_add(1, Ordering::Relaxed);
            if i >= job.tasks {
                return;
            }
            // SAFETY: `run` outlives every task of its job (see `Job::f`).
            let f = unsafe { &*job.f };
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(i))) {
                *self.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
            }
        }
    }
}

/// Polls `ready` until it gives a value: busy at first, then yielding the core between polls.
fn wait<T>(mut ready: impl FnMut() -> Option<T>) -> T {
    let mut spins = 0u32;
    loop {
        if let Some(v) = ready() {
            return v;
        }
        if spins < SPINS {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_once_on_a_team_and_on_the_pool() {
        for threads in [1, 2, 3] {
            let sums = Team::with(threads, || {
                (0..50)
                    .map(|n| {
                        let mut items: Vec<(usize, usize)> = (0..n).map(|i| (i, 0)).collect();
                        for_each_mut(&mut items, |(i, out)| *out += *i * 2 + 1);
                        items.iter().map(|&(_, o)| o).sum::<usize>()
                    })
                    .collect::<Vec<_>>()
            });
            assert_eq!(sums, (0..50).map(|n| n * n).collect::<Vec<_>>());
        }
        let mut items = vec![1, 2, 3];
        for_each_mut(&mut items, |x| *x *= 10);
        assert_eq!(items, [10, 20, 30]);
    }

    #[test]
    fn a_task_panic_reaches_the_caller_and_the_team_ends() {
        let r = catch_unwind(|| {
            Team::with(2, || {
                let mut items: Vec<usize> = (0..64).collect();
                for_each_mut(&mut items, |x| assert!(*x != 33, "task 33"));
            })
        });
        assert!(r.is_err());
        assert!(CURRENT.with(Cell::get).is_null());
    }
}
