//! The Rust sink: records handed to the embedding program's closure, as they come.

use eddy_dsl::Row;

use super::{RustSink, Sink, SinkWriter};

pub struct Receiver(pub RustSink);

impl Sink for Receiver {
    fn writer(&self, _worker: usize, _streaming: bool) -> Result<Box<dyn SinkWriter>, String> {
        Ok(Box::new(Handed { to: self.0.clone(), written: 0 }))
    }
}

struct Handed {
    to: RustSink,
    written: u64,
}

impl SinkWriter for Handed {
    fn write(&mut self, row: Row) -> Result<(), String> {
        // A closure that panicked before is not called again (its lock is poisoned).
        if let Ok(mut f) = self.to.lock() {
            f(row);
            self.written += 1;
        }
        Ok(())
    }

    /// Every record was handed over as it came: it is durable already.
    fn flush(&mut self, _end: bool) -> Result<(), String> {
        Ok(())
    }

    fn written(&self) -> u64 {
        self.written
    }
}
