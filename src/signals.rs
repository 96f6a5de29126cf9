//! SIGINT and SIGTERM for `eddy run`. The first one stops the job cleanly (`RunConfig::stop`):
//! sources stop, what is in flight is written and the summary printed. Another one ends the
//! process at once, but only if it comes more than `GRACE` after the first: `timeout -s INT`
//! delivers its signal twice within microseconds, and a terminal's Ctrl-C reaches every
//! process of a `--local-cluster` both directly and forwarded by the parent. Those are one
//! request, not an impatient second one.
//!
//! The signals are taken synchronously (blocked, then `sigwait` in a thread of their own), so
//! no code runs in a signal handler and the workspace stays free of `unsafe`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, SigSet, Signal};
use nix::unistd::Pid;

/// How long after the first signal another one is taken as the same request.
const GRACE: Duration = Duration::from_secs(1);

/// How often a process of `--local-cluster` looks whether its parent is still there.
const PARENT_POLL: Duration = Duration::from_millis(100);

/// The signals a running job received, and the processes it forwards them to.
pub struct Signals {
    stop: Arc<AtomicBool>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The first signal, and when it came.
    first: Option<(Signal, Instant)>,
    /// Whether this process is the parent of a `--local-cluster`: it forwards and waits for
    /// its children rather than ending at once.
    parent: bool,
    children: Vec<Pid>,
}

impl Signals {
    /// Takes SIGINT and SIGTERM from now on. Call it before any thread starts: the threads
    /// inherit the mask that keeps the signals for the waiting thread.
    pub fn install(stop: Arc<AtomicBool>) -> std::io::Result<Arc<Signals>> {
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        set.thread_block().map_err(std::io::Error::from)?;
        let signals = Arc::new(Signals { stop, state: Mutex::default() });
        let taker = Arc::clone(&signals);
        std::thread::spawn(move || {
            while let Ok(signal) = set.wait() {
                taker.take(signal);
            }
        });
        Ok(signals)
    }

    /// The first signal received, if any.
    pub fn received(&self) -> Option<Signal> {
        self.state().first.map(|(s, _)| s)
    }

    /// Makes this process the parent of a local cluster: signals are forwarded to its children.
    pub fn become_parent(&self) {
        self.state().parent = true;
    }

    /// Forwards signals to process `pid` from now on (and the first one, if it already came).
    pub fn forward_to(&self, pid: u32) {
        let Ok(pid) = i32::try_from(pid).map(Pid::from_raw) else { return };
        let mut state = self.state();
        if let Some((signal, _)) = state.first {
            let _ = kill(pid, signal);
        }
        state.children.push(pid);
    }

    /// Stops forwarding to `pid`: it has ended (and its number may be given to another).
    pub fn forget(&self, pid: u32) {
        self.state().children.retain(|c| c.as_raw() as u32 != pid);
    }

    /// Stops the job as a SIGTERM would when process `parent` is no longer this one's parent:
    /// a process of `--local-cluster` must not outlive the command that started it, even when
    /// that one was killed with SIGKILL.
    pub fn watch_parent(self: &Arc<Self>, parent: u32) {
        let signals = Arc::clone(self);
        std::thread::spawn(move || {
            while std::os::unix::process::parent_id() == parent {
                std::thread::sleep(PARENT_POLL);
            }
            signals.take(Signal::SIGTERM);
        });
    }

    fn take(&self, signal: Signal) {
        let mut state = self.state();
        let now = Instant::now();
        match state.first {
            None => {
                state.first = Some((signal, now));
                self.stop.store(true, Ordering::Relaxed);
            }
            Some((_, first)) if now.duration_since(first) < GRACE => return,
            Some(_) if !state.parent => std::process::exit(exit_code(signal)),
            Some(_) => {}
        }
        for &child in &state.children {
            let _ = kill(child, signal);
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The exit code of a job stopped by `signal`: 128 + its number, as shells report it.
pub fn exit_code(signal: Signal) -> i32 {
    128 + signal as i32
}
