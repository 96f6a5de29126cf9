//! The stdout sink: every worker of every process writes its chunks to this process's stdout.

use std::io::Write;

use eddy_dsl::plan::Format;
use eddy_dsl::{Row, Schema};

use super::{Encoded, Sink, SinkWriter};
use crate::format::Encoder;

pub struct StdoutSink {
    format: Format,
    schema: Schema,
}

impl StdoutSink {
    /// Writes the header (process 0 only).
    pub fn open(format: &Format, schema: &Schema, label: &str, process: usize) -> Result<StdoutSink, String> {
        if let (0, Some(header)) = (process, Encoder::new(format, schema).header()) {
            let mut out = std::io::stdout().lock();
            out.write_all(header.as_bytes()).map_err(|e| format!("sink {label}: cannot write: {e}"))?;
        }
        Ok(StdoutSink { format: format.clone(), schema: schema.clone() })
    }
}

impl Sink for StdoutSink {
    fn writer(&self, _worker: usize, _streaming: bool) -> Result<Box<dyn SinkWriter>, String> {
        Ok(Box::new(StdoutWriter(Encoded::new(&self.format, &self.schema))))
    }
}

struct StdoutWriter(Encoded);

impl SinkWriter for StdoutWriter {
    fn write(&mut self, row: Row) -> Result<(), String> {
        match self.0.push(&row) {
            true => self.flush(false),
            false => Ok(()),
        }
    }

    fn flush(&mut self, end: bool) -> Result<(), String> {
        let mut out = std::io::stdout().lock();
        let result = out.write_all(self.0.buf.as_bytes()).and_then(|_| if end { out.flush() } else { Ok(()) });
        self.0.wrote(result.is_ok());
        result.map_err(|e| e.to_string())
    }

    fn written(&self) -> u64 {
        self.0.written
    }
}
