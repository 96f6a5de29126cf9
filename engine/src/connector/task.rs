//! Client tasks: a connector's client that blocks (stdin) or is asynchronous (a broker, an
//! HTTP listener) runs on the process's async runtime, made the first time a plan needs one,
//! and hands batches to its source operator over a bounded channel. When the pipeline falls
//! behind, the client waits for room (back-pressure) instead of memory growing; each batch
//! wakes the operator at once, so no polling delay stands between arrival and processing.
//! The operator dropping its end is the client's stop signal; at the end of the job the
//! runtime is shut down without waiting for a client blocked in a read.

use std::sync::OnceLock;

use tokio::sync::mpsc;

/// Wakes the source operator (a timely `SyncActivator`, or anything else in tests).
pub type Wake = Box<dyn Fn() + Send + Sync>;

/// The process's async runtime, made on first use and shared by its workers.
#[derive(Default)]
pub struct Runtime {
    rt: OnceLock<Result<tokio::runtime::Runtime, String>>,
}

impl Runtime {
    fn handle(&self) -> Result<tokio::runtime::Handle, String> {
        let made = self.rt.get_or_init(|| {
            // One thread runs the async clients; blocking ones get threads of their own.
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("eddy-io")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the runtime of the connectors: {e}"))
        });
        match made {
            Ok(rt) => Ok(rt.handle().clone()),
            Err(e) => Err(e.clone()),
        }
    }

    /// Runs `client` on a thread of its own (it may block), handing batches of type `T` over
    /// a channel of `capacity` batches; `wake` is called after each, and when the client ends.
    pub fn spawn_blocking<T, F>(&self, capacity: usize, wake: Wake, client: F) -> Result<ClientTask<T>, String>
    where
        T: Send + 'static,
        F: FnOnce(Handoff<T>) + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        self.handle()?.spawn_blocking(move || client(Handoff { tx, wake }));
        Ok(ClientTask { rx })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(Ok(rt)) = self.rt.take() {
            // A client blocked in a read (stdin) must not hold the end of the job.
            rt.shutdown_background();
        }
    }
}

/// The client's end of a task: it sends batches to the source operator.
pub struct Handoff<T> {
    tx: mpsc::Sender<T>,
    wake: Wake,
}

impl<T> Handoff<T> {
    /// Sends a batch, waiting while the channel is full; false once the operator has gone
    /// (the job stops): the client should end.
    pub fn send_blocking(&self, batch: T) -> bool {
        let sent = self.tx.blocking_send(batch).is_ok();
        (self.wake)();
        sent
    }
}

impl<T> Drop for Handoff<T> {
    fn drop(&mut self) {
        // The operator learns at once that the client has ended.
        (self.wake)();
    }
}

/// The source operator's end of a task.
pub struct ClientTask<T> {
    rx: mpsc::Receiver<T>,
}

/// What a task has for its operator.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<T> {
    Batch(T),
    /// Nothing yet.
    Empty,
    /// The client has ended and everything it sent has been received.
    Ended,
}

impl<T> ClientTask<T> {
    /// The next batch, without waiting.
    pub fn try_recv(&mut self) -> Received<T> {
        match self.rx.try_recv() {
            Ok(batch) => Received::Batch(batch),
            Err(mpsc::error::TryRecvError::Empty) => Received::Empty,
            Err(mpsc::error::TryRecvError::Disconnected) => Received::Ended,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn counter() -> (Arc<AtomicUsize>, Wake) {
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = Arc::clone(&wakes);
        (wakes, Box::new(move || _ = w.fetch_add(1, Ordering::SeqCst)))
    }

    fn wait_for(mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(10), "timed out");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn batches_arrive_in_order_with_a_wake_each_then_the_end() {
        let runtime = Runtime::default();
        let (wakes, wake) = counter();
        let mut task = runtime
            .spawn_blocking(2, wake, |out: Handoff<u32>| {
                for i in 0..5 {
                    assert!(out.send_blocking(i));
                }
            })
            .unwrap();
        let mut got = Vec::new();
        wait_for(|| match task.try_recv() {
            Received::Batch(b) => {
                got.push(b);
                false
            }
            Received::Empty => false,
            Received::Ended => true,
        });
        assert_eq!(got, [0, 1, 2, 3, 4]);
        // One wake per batch, and one when the client ended.
        assert_eq!(wakes.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn a_full_channel_holds_the_client_back() {
        let runtime = Runtime::default();
        let sent = Arc::new(AtomicUsize::new(0));
        let s = Arc::clone(&sent);
        let mut task = runtime
            .spawn_blocking(3, Box::new(|| ()), move |out: Handoff<u32>| {
                for i in 0..100 {
                    if !out.send_blocking(i) {
                        return;
                    }
                    s.fetch_add(1, Ordering::SeqCst);
                }
            })
            .unwrap();
        wait_for(|| sent.load(Ordering::SeqCst) >= 3);
        std::thread::sleep(Duration::from_millis(50));
        // Three batches wait in the channel; the client is blocked on the fourth.
        assert_eq!(sent.load(Ordering::SeqCst), 3);
        assert_eq!(task.try_recv(), Received::Batch(0));
        wait_for(|| sent.load(Ordering::SeqCst) == 4);
    }

    #[test]
    fn dropping_the_operator_end_stops_the_client() {
        let runtime = Runtime::default();
        let stopped = Arc::new(AtomicUsize::new(0));
        let s = Arc::clone(&stopped);
        let task = runtime
            .spawn_blocking(1, Box::new(|| ()), move |out: Handoff<u32>| {
                while out.send_blocking(7) {}
                s.store(1, Ordering::SeqCst);
            })
            .unwrap();
        drop(task);
        wait_for(|| stopped.load(Ordering::SeqCst) == 1);
    }
}
