//! `stdin`: standard input, read by worker 0 only, on a client task (reads block) that hands
//! lines over in batches through a bounded channel.

use std::io::BufReader;

use eddy_dsl::plan::Format;
use eddy_dsl::{Row, Schema};

use super::lines::{read_line, Line, LineDecoder};
use super::task::{ClientTask, Handoff, Received, Runtime, Wake};
use super::{Reader, Status, BATCH};

/// Lines of stdin with whether each was cut at the limit, or why reading failed.
type Lines = Result<Vec<(Vec<u8>, bool)>, String>;

/// Standard input, read on a client task by worker 0.
pub struct StdinReader {
    lines: LineDecoder,
    task: ClientTask<Lines>,
    line_no: u64,
    limit: usize,
    header_pending: bool,
}

impl StdinReader {
    pub fn new(
        source: &str,
        format: &Format,
        schema: &Schema,
        used: &[bool],
        limit: usize,
        runtime: &Runtime,
        wake: Wake,
    ) -> Result<StdinReader, String> {
        let task = runtime.spawn_blocking(16, wake, move |out: Handoff<Lines>| read_stdin(&out, limit))?;
        let header_pending = matches!(format, Format::Csv { header: true, .. });
        Ok(StdinReader {
            lines: LineDecoder::new(source, "stdin", format, schema, used),
            task,
            line_no: 0,
            limit,
            header_pending,
        })
    }
}

/// Reads stdin to its end (or until the operator stops), a batch at a time: what has arrived
/// is handed over rather than held back waiting for more.
fn read_stdin(out: &Handoff<Lines>, limit: usize) {
    let mut reader = BufReader::with_capacity(1 << 16, std::io::stdin().lock());
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        let mut eof = false;
        while batch.len() < BATCH {
            let mut buf = Vec::new();
            match read_line(&mut reader, &mut buf, limit) {
                Ok(Line { consumed: 0, .. }) => {
                    eof = true;
                    break;
                }
                Ok(line) => batch.push((buf, line.too_long)),
                Err(e) => {
                    // The lines read so far first, then the error: nothing is lost unsaid.
                    if !batch.is_empty() && !out.send_blocking(Ok(std::mem::take(&mut batch))) {
                        return;
                    }
                    out.send_blocking(Err(format!("cannot read stdin: {e}")));
                    return;
                }
            }
            if reader.buffer().is_empty() {
                break;
            }
        }
        if (!batch.is_empty() && !out.send_blocking(Ok(batch))) || eof {
            return;
        }
    }
}

impl Reader for StdinReader {
    fn read(&mut self, _max: usize, ok: &mut Vec<Row>, err: &mut Vec<Row>) -> Result<Status, String> {
        let batch = match self.task.try_recv() {
            Received::Batch(batch) => batch?,
            Received::Empty => return Ok(Status::Idle),
            Received::Ended => return Ok(Status::Done),
        };
        for (line, too_long) in batch {
            self.line_no += 1;
            let no = self.line_no;
            if self.header_pending {
                self.header_pending = false;
                self.lines.decoder.set_header(&line).map_err(|e| format!("stdin:1: bad CSV header: {e}"))?;
            } else if too_long {
                self.lines.reject(&line, format!("line longer than {} bytes", self.limit), no, err);
            } else if let Some(e) = self.lines.decode_line(&line, ok) {
                self.lines.reject(&line, e, no, err);
            }
        }
        Ok(Status::More)
    }
}
