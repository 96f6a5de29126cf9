//! `file`: a file split into stripes dealt to the workers of each process (or, followed, one
//! range per worker, the last one open-ended), each read in batches of whole lines.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use eddy_dsl::plan::Format;
use eddy_dsl::{Row, Schema};

use super::lines::{read_line, LineDecoder};
use super::{Reader, Status};

/// The bytes of a file a worker reads before it takes another stripe. Small enough that all
/// workers move through a time-ordered file together (so that the watermark, the minimum over
/// them, keeps up and windows close early) and that a worker slowed down leaves little for the
/// others to wait for; large enough that the seek between stripes costs nothing, and that a
/// small file is one partition, judged for lateness as one reader judges it.
pub const STRIPE: u64 = 1 << 20;

/// Deals the stripes of a file to the workers of one process, each stripe to the first worker
/// that asks: a worker slowed down (its core busy with other work, a costlier stretch of the
/// file) reads fewer stripes instead of holding the job up, as Flink's readers ask for splits.
/// Processes share no memory, so they split the file beforehand: process `p` of `n` reads
/// stripes `p`, `p + n`, `p + 2n`, ...
#[derive(Clone)]
pub struct Dealer {
    /// How many stripes this process's workers have taken.
    taken: Arc<AtomicU64>,
    process: u64,
    processes: u64,
    /// The size of a stripe (`STRIPE`).
    pub stripe: u64,
}

impl Dealer {
    pub fn new(process: usize, processes: usize, stripe: u64) -> Dealer {
        let (process, processes) = (process as u64, processes.max(1) as u64);
        Dealer { taken: Arc::new(AtomicU64::new(0)), process, processes, stripe }
    }

    /// Where the next stripe starts.
    fn deal(&self) -> u64 {
        let n = self.process + self.taken.fetch_add(1, Ordering::Relaxed) * self.processes;
        n.saturating_mul(self.stripe)
    }
}

/// How a file is shared among the workers.
pub enum Stripes {
    /// Stripes, dealt (a file read to its end).
    Dealt(Dealer),
    /// One contiguous range per worker, the last one open-ended (a followed file).
    Range,
}

/// The size of a page of the page cache (where file reads start, see `FileReader::seek`).
const PAGE: u64 = 4096;

/// A worker's share of a file: the stripes dealt to it, aligned to whole lines (a line belongs
/// to the stripe that holds its first byte), or a contiguous range (see `Stripes`).
pub struct FileReader {
    reader: BufReader<File>,
    path: String,
    lines: LineDecoder,
    /// Offset of the next line, and where the current stripe ends.
    offset: u64,
    end: u64,
    /// The length of the file (when opened).
    len: u64,
    /// What deals the next stripe (none: one range).
    dealer: Option<Dealer>,
    /// Line numbers, counted lazily (for error positions only): the number of lines before
    /// an offset already counted.
    counted: (u64, u64),
    buf: Vec<u8>,
    limit: usize,
    /// Keep reading lines appended to the file (the last worker's range is open-ended).
    follow: bool,
}

impl FileReader {
    /// Opens worker `worker`'s share of `path`.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        source: &str,
        path: &str,
        format: &Format,
        schema: &Schema,
        used: &[bool],
        (worker, peers): (usize, usize),
        limit: usize,
        stripes: Stripes,
    ) -> Result<FileReader, String> {
        let io = |e: std::io::Error| format!("cannot read '{path}': {e}");
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let (w, p) = (worker as u64, peers as u64);
        let follow = matches!(stripes, Stripes::Range);
        // Dealt stripes start with an empty one: the first read takes a stripe.
        let (start, end, dealer) = match stripes {
            Stripes::Range => (len * w / p, if w + 1 == p { u64::MAX } else { len * (w + 1) / p }, None),
            Stripes::Dealt(dealer) => (0, 0, Some(dealer)),
        };
        let mut reader = FileReader {
            reader: BufReader::with_capacity(1 << 17, file),
            path: path.to_string(),
            lines: LineDecoder::new(source, path, format, schema, used),
            offset: 0,
            end,
            len,
            dealer,
            counted: (0, 0),
            buf: Vec::new(),
            limit,
            follow: follow && w + 1 == p,
        };
        if matches!(format, Format::Csv { header: true, .. }) {
            let n = read_line(&mut reader.reader, &mut reader.buf, limit).map_err(io)?.consumed;
            reader.lines.decoder.set_header(&reader.buf).map_err(|e| format!("{path}:1: bad CSV header: {e}"))?;
            reader.offset = n as u64;
        }
        reader.seek(start.max(reader.offset))?;
        Ok(reader)
    }

    /// Moves to the first line that starts at or after `at`.
    fn seek(&mut self, at: u64) -> Result<(), String> {
        let io = |e: std::io::Error| format!("cannot read '{}': {e}", self.path);
        if at <= self.offset {
            // Lines are read in order, and the last one read started before `at` (it belonged
            // to the stripe before): the next one is the first at or after `at`.
            return Ok(());
        }
        // The line that straddles `at` belongs to the stripe before. Reads start on a page
        // boundary and skip to `at - 1` in the buffer: the kernel copies a read that starts
        // within a page several times slower.
        let page = (at - 1) & !(PAGE - 1);
        self.reader.seek(SeekFrom::Start(page)).map_err(io)?;
        let skip = (at - 1 - page) as usize;
        let skipped = self.reader.fill_buf().map_err(io)?.len().min(skip);
        self.reader.consume(skipped);
        let n = read_line(&mut self.reader, &mut self.buf, 0).map_err(io)?.consumed;
        self.offset = at + (n as u64).saturating_sub(1);
        Ok(())
    }

    /// Moves to the next stripe dealt to this worker; false when there is none.
    fn next_stripe(&mut self) -> Result<bool, String> {
        let Some(dealer) = &self.dealer else {
            return Ok(false);
        };
        let start = dealer.deal();
        if start >= self.len {
            return Ok(false);
        }
        self.end = start + dealer.stripe;
        self.seek(start)?;
        Ok(true)
    }

    /// The 1-based number of the line starting at `at`, counting the lines before it from
    /// the last position counted (lines are read in order, so each byte is counted once).
    fn line_number(&mut self, at: u64) -> u64 {
        let (from, mut lines) = self.counted;
        if let Ok(mut f) = File::open(&self.path) {
            if f.seek(SeekFrom::Start(from)).is_ok() {
                let mut r = f.take(at.saturating_sub(from));
                let mut chunk = vec![0u8; 1 << 16];
                while let Ok(n) = r.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    lines += memchr::memchr_iter(b'\n', &chunk[..n]).count() as u64;
                }
            }
        }
        self.counted = (at, lines);
        lines + 1
    }
}

impl Reader for FileReader {
    fn read(&mut self, max: usize, ok: &mut Vec<Row>, err: &mut Vec<Row>) -> Result<Status, String> {
        for _ in 0..max {
            while self.offset >= self.end {
                if !self.next_stripe()? {
                    return Ok(Status::Done);
                }
            }
            // The common case: the whole line is in the reader's buffer, and decodes from there.
            let available = self.reader.fill_buf().map_err(|e| format!("cannot read '{}': {e}", self.path))?;
            if let Some(i) = memchr::memchr(b'\n', available).filter(|i| *i <= self.limit) {
                let line = &available[..i];
                let error = self.lines.decode_line(line, ok);
                if let Some(e) = error {
                    self.buf.clear();
                    self.buf.extend_from_slice(line);
                    let no = self.line_number(self.offset);
                    self.lines.reject(&self.buf, e, no, err);
                }
                self.reader.consume(i + 1);
                self.offset += i as u64 + 1;
                continue;
            }
            let read = read_line(&mut self.reader, &mut self.buf, self.limit)
                .map_err(|e| format!("cannot read '{}': {e}", self.path))?;
            let (n, too_long) = (read.consumed, read.too_long);
            if self.follow && !read.complete {
                // The end of the file for now (perhaps in the middle of a line being written):
                // read that line again when more has arrived.
                let back = -(n as i64);
                self.reader.seek_relative(back).map_err(|e| format!("cannot read '{}': {e}", self.path))?;
                return Ok(Status::Idle);
            }
            if n == 0 {
                return Ok(Status::Done);
            }
            let at = self.offset;
            self.offset += n as u64;
            let line = std::mem::take(&mut self.buf);
            let error = if too_long {
                Some(format!("line longer than {} bytes", self.limit))
            } else {
                self.lines.decode_line(&line, ok)
            };
            if let Some(e) = error {
                let no = self.line_number(at);
                self.lines.reject(&line, e, no, err);
            }
            self.buf = line;
        }
        Ok(Status::More)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_dsl::{Field, Type};

    /// Reads `path` with one worker per entry of `turns` and stripes of `stripe` bytes, the
    /// workers taking turns, each reading up to its number of records a turn; each worker's
    /// rows and `.errors` rows, in the order it read them.
    fn read_dealt(
        path: &str,
        format: &Format,
        schema: &Schema,
        turns: &[usize],
        stripe: u64,
    ) -> Vec<(Vec<Row>, Vec<Row>)> {
        let dealer = Dealer::new(0, 1, stripe);
        let used = vec![true; schema.len()];
        let mut readers: Vec<Option<FileReader>> = (0..turns.len())
            .map(|w| {
                let stripes = Stripes::Dealt(dealer.clone());
                Some(
                    FileReader::open("s", path, format, schema, &used, (w, turns.len()), 1 << 20, stripes)
                        .expect("open"),
                )
            })
            .collect();
        let mut read = vec![(Vec::new(), Vec::new()); turns.len()];
        while readers.iter().any(Option::is_some) {
            for (w, slot) in readers.iter_mut().enumerate() {
                if let Some(r) = slot {
                    let (ok, err) = &mut read[w];
                    if r.read(turns[w], ok, err).expect("read") == Status::Done {
                        *slot = None;
                    }
                }
            }
        }
        read
    }

    /// `read_dealt` of a text file: each worker's lines.
    fn read_lines(path: &str, turns: &[usize], stripe: u64) -> Vec<Vec<String>> {
        let schema = Schema::new(vec![Field { name: "line".into(), ty: Type::STRING }]);
        read_dealt(path, &Format::Text, &schema, turns, stripe)
            .into_iter()
            .map(|(ok, err)| {
                assert!(err.is_empty());
                ok.iter().map(|row| row[0].as_str().unwrap_or_default().to_string()).collect()
            })
            .collect()
    }

    #[test]
    fn workers_read_every_line_once_in_stripes() {
        let dir = std::env::temp_dir().join(format!("eddy-stripes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("lines.txt");
        // Lines of every length from 1 to 60 bytes, and some far longer than a stripe.
        let lines: Vec<String> =
            (0..400)
                .map(|i| {
                    if i % 97 == 5 {
                        format!("{i}:{}", "x".repeat(3000))
                    } else {
                        format!("{i}:{}", "y".repeat(i % 60))
                    }
                })
                .collect();
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
        for (peers, stripe) in (1..=5).flat_map(|p| [1, 10, 100, 1000].map(|s| (p, s))) {
            let shares = read_lines(&path.display().to_string(), &vec![7; peers], stripe);
            let mut all: Vec<&String> = shares.iter().flatten().collect();
            all.sort_by_key(|l| l.split(':').next().and_then(|n| n.parse::<usize>().ok()));
            assert_eq!(all, lines.iter().collect::<Vec<_>>(), "{peers} workers, stripes of {stripe}");
            for share in &shares {
                assert!(!share.is_empty(), "{peers} workers, stripes of {stripe}: every worker gets a share");
                let numbers: Vec<usize> = share.iter().filter_map(|l| l.split(':').next()?.parse().ok()).collect();
                assert!(numbers.is_sorted(), "{peers} workers: a worker reads its lines in file order");
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_worker_that_reads_faster_is_dealt_more_stripes() {
        let dir = std::env::temp_dir().join(format!("eddy-dealt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("lines.txt");
        // 1000 lines of 10 bytes, in stripes of 100 bytes: 100 stripes of 10 lines.
        let text: String = (0..1000).map(|i| format!("line {i:04}\n")).collect();
        std::fs::write(&path, text).expect("write");
        // Worker 0 reads one line a turn, worker 1 thirty (three stripes). Worker 0 takes a
        // stripe every ten turns: stripes 0, 31, 62 and 93 (worker 1 takes the three after each
        // every turn); its share is 4 stripes, where every other stripe would be 50.
        let shares = read_lines(&path.display().to_string(), &[1, 30], 100);
        let firsts: Vec<&str> = shares[0].iter().step_by(10).map(|l| &l[5..]).collect();
        assert_eq!(firsts, ["0000", "0310", "0620", "0930"]);
        assert_eq!((shares[0].len(), shares[1].len()), (40, 960));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn rejected_lines_have_their_line_numbers_whoever_reads_them() {
        let dir = std::env::temp_dir().join(format!("eddy-stripe-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("lines.jsonl");
        // Every seventh line is not JSON; its text says its number.
        let text: String =
            (1..=200).map(|n| if n % 7 == 0 { format!("bad {n}\n") } else { format!("{{\"a\":{n}}}\n") }).collect();
        std::fs::write(&path, text).expect("write");
        let path = path.display().to_string();
        let schema = Schema::new(vec![Field { name: "a".into(), ty: Type::INT }]);
        for (turns, stripe) in [(&[5][..], 1 << 20), (&[5, 5], 10), (&[2, 5, 9], 64), (&[5, 1, 5, 3], 1000)] {
            let mut positions = Vec::new();
            for (_, err) in read_dealt(&path, &Format::Jsonl, &schema, turns, stripe) {
                for row in err {
                    let raw = row[0].as_str().unwrap_or_default().to_string();
                    positions.push((raw, row[3].as_str().unwrap_or_default().to_string()));
                }
            }
            positions.sort_by_key(|(raw, _)| raw.trim_start_matches("bad ").parse::<u32>().unwrap_or(0));
            let expected: Vec<(String, String)> =
                (1..=200).filter(|n| n % 7 == 0).map(|n| (format!("bad {n}"), format!("{path}:{n}"))).collect();
            assert_eq!(positions, expected, "turns {turns:?}, stripes of {stripe}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
