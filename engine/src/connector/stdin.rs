//! `stdin`: standard input, read on its own thread (reads block) and handed over in batches
//! through a bounded channel, by worker 0 only.

use std::io::BufReader;
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};

use eddy_dsl::plan::Format;
use eddy_dsl::{Row, Schema};

use super::lines::{read_line, Line, LineDecoder};
use super::{Reader, Status, BATCH};

/// Standard input, read on its own thread (reads block) by worker 0 only.
pub struct StdinReader {
    lines: LineDecoder,
    rx: Receiver<Vec<(Vec<u8>, bool)>>,
    line_no: u64,
    limit: usize,
    header_pending: bool,
}

impl StdinReader {
    pub fn new(source: &str, format: &Format, schema: &Schema, used: &[bool], limit: usize) -> StdinReader {
        let (tx, rx) = sync_channel(16);
        std::thread::spawn(move || {
            let mut reader = BufReader::with_capacity(1 << 16, std::io::stdin().lock());
            loop {
                let mut batch = Vec::with_capacity(BATCH);
                let mut eof = false;
                while batch.len() < BATCH {
                    let mut buf = Vec::new();
                    match read_line(&mut reader, &mut buf, limit) {
                        Ok(Line { consumed: 0, .. }) | Err(_) => {
                            eof = true;
                            break;
                        }
                        Ok(line) => batch.push((buf, line.too_long)),
                    }
                    if reader.buffer().is_empty() {
                        break; // hand over what we have rather than wait for more
                    }
                }
                if (!batch.is_empty() && tx.send(batch).is_err()) || eof {
                    return;
                }
            }
        });
        let header_pending = matches!(format, Format::Csv { header: true, .. });
        StdinReader {
            lines: LineDecoder::new(source, "stdin", format, schema, used),
            rx,
            line_no: 0,
            limit,
            header_pending,
        }
    }
}

impl Reader for StdinReader {
    fn read(&mut self, _max: usize, ok: &mut Vec<Row>, err: &mut Vec<Row>) -> Result<Status, String> {
        let batch = match self.rx.try_recv() {
            Ok(batch) => batch,
            Err(TryRecvError::Empty) => return Ok(Status::Idle),
            Err(TryRecvError::Disconnected) => return Ok(Status::Done),
        };
        for (line, too_long) in batch {
            self.line_no += 1;
            let no = self.line_no;
            if self.header_pending {
                self.header_pending = false;
                self.lines.decoder.set_header(&line).map_err(|e| format!("stdin: bad CSV header: {e}"))?;
            } else if too_long {
                self.lines.reject(&line, format!("line longer than {} bytes", self.limit), no, err);
            } else if let Some(e) = self.lines.decode_line(&line, ok) {
                self.lines.reject(&line, e, no, err);
            }
        }
        Ok(Status::More)
    }
}
