//! The file sink: one file written by every worker of process 0 (records of other processes
//! gather there), or one file per worker (`partitioned`: `path` with `-N` before the
//! extension).
//!
//! A batch job writes each file under a temporary name beside it (`.name.eddy-tmp-PID`) and
//! renames it at its successful end (`Sink::finish`): a job that fails or is stopped leaves no
//! complete-looking file behind, and any previous file as it was. A stream never ends
//! successfully, so it writes its files in place.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, TryLockError};

use eddy_dsl::plan::Format;
use eddy_dsl::{Row, Schema};

use super::{Encoded, Sink, SinkWriter};
use crate::format::Encoder;

pub struct FileSink {
    to: To,
    format: Format,
    schema: Schema,
    /// The files written under temporary names, to rename at the end.
    staged: Mutex<Vec<Staged>>,
}

enum To {
    /// One file, opened by the process that writes it (process 0), shared by its workers.
    Single(Arc<Mutex<Option<File>>>),
    /// One file per worker, created by the worker.
    Parts(String),
}

impl FileSink {
    /// The single file, created with its header by process 0 (so an empty result still gives
    /// a file).
    pub fn single(
        path: &str,
        format: &Format,
        schema: &Schema,
        process: usize,
        streaming: bool,
    ) -> Result<FileSink, String> {
        let mut staged = Vec::new();
        let file = match process {
            0 => Some(create(path, format, schema, streaming, &mut staged)?),
            _ => None,
        };
        let to = To::Single(Arc::new(Mutex::new(file)));
        Ok(FileSink { to, format: format.clone(), schema: schema.clone(), staged: Mutex::new(staged) })
    }

    pub fn parts(path: &str, format: &Format, schema: &Schema) -> FileSink {
        let to = To::Parts(path.to_string());
        FileSink { to, format: format.clone(), schema: schema.clone(), staged: Mutex::new(Vec::new()) }
    }
}

impl Sink for FileSink {
    fn single(&self) -> bool {
        matches!(self.to, To::Single(_))
    }

    fn writer(&self, worker: usize, streaming: bool) -> Result<Box<dyn SinkWriter>, String> {
        let encoded = Encoded::new(&self.format, &self.schema);
        let out = match &self.to {
            To::Single(file) => Out::Shared(Arc::clone(file)),
            To::Parts(path) => {
                let mut staged = self.staged.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                Out::Own(create(&part_path(path, worker), &self.format, &self.schema, streaming, &mut staged)?)
            }
        };
        Ok(Box::new(FileWriter { encoded, out }))
    }

    fn finish(&self) -> Result<(), String> {
        let mut staged = self.staged.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for file in staged.drain(..) {
            file.commit()?;
        }
        Ok(())
    }
}

enum Out {
    /// The single file (none in the processes other than 0).
    Shared(Arc<Mutex<Option<File>>>),
    Own(File),
}

struct FileWriter {
    encoded: Encoded,
    out: Out,
}

impl SinkWriter for FileWriter {
    fn write(&mut self, row: Row) -> Result<(), String> {
        match self.encoded.push(&row) {
            true => self.flush(false),
            false => Ok(()),
        }
    }

    fn flush(&mut self, end: bool) -> Result<(), String> {
        let bytes = self.encoded.buf.as_bytes();
        let result = match &mut self.out {
            Out::Shared(file) => {
                let mut guard = match file.try_lock() {
                    // Another worker is writing: rather than wait, go on and try again with
                    // another chunk (up to 4 MB).
                    Err(TryLockError::WouldBlock) if !end && bytes.len() < 1 << 22 => {
                        self.encoded.defer();
                        return Ok(());
                    }
                    Err(TryLockError::WouldBlock) => file.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
                    Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                    Ok(w) => w,
                };
                match guard.as_mut() {
                    Some(f) => f.write_all(bytes),
                    None => Ok(()),
                }
            }
            Out::Own(f) => f.write_all(bytes),
        };
        self.encoded.wrote(result.is_ok());
        result.map_err(|e| e.to_string())
    }

    fn written(&self) -> u64 {
        self.encoded.written
    }
}

/// A file written under a temporary name; dropped before `commit`, it is removed.
struct Staged {
    temp: PathBuf,
    path: PathBuf,
}

impl Staged {
    fn commit(self) -> Result<(), String> {
        std::fs::rename(&self.temp, &self.path)
            .map_err(|e| format!("cannot rename '{}' to '{}': {e}", self.temp.display(), self.path.display()))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // After `commit` the temporary name is gone, and this finds nothing to remove.
        let _ = std::fs::remove_file(&self.temp);
    }
}

/// Creates the file `path` with its header: in a batch job under a temporary name, recorded
/// in `staged`. A path that exists and is not a regular file (`/dev/null`, a pipe) is
/// written in place: it cannot be replaced.
fn create(
    path: &str,
    format: &Format,
    schema: &Schema,
    streaming: bool,
    staged: &mut Vec<Staged>,
) -> Result<File, String> {
    let io = |e: std::io::Error| format!("cannot write '{path}': {e}");
    // A link is followed: the file it points to is replaced, not the link.
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).unwrap_or_else(|_| path.into()),
        _ => PathBuf::from(path),
    };
    let target = target.as_path();
    let dir = target.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let special = std::fs::metadata(target).is_ok_and(|m| !m.is_file());
    let mut file = match (streaming || special, target.file_name()) {
        (false, Some(name)) => {
            let temp_name = format!(".{}.eddy-tmp-{}", name.to_string_lossy(), std::process::id());
            let temp = dir.map_or_else(|| PathBuf::from(&temp_name), |d| d.join(&temp_name));
            let file = File::create(&temp).map_err(io)?;
            staged.push(Staged { temp, path: target.to_path_buf() });
            file
        }
        _ => File::create(target).map_err(io)?,
    };
    if let Some(header) = Encoder::new(format, schema).header() {
        file.write_all(header.as_bytes()).map_err(io)?;
    }
    Ok(file)
}

/// The path of worker `index`'s part: `out/q.csv` → `out/q-3.csv`.
pub fn part_path(path: &str, index: usize) -> String {
    let p = std::path::Path::new(path);
    match (p.file_stem().and_then(|s| s.to_str()), p.extension().and_then(|e| e.to_str())) {
        (Some(stem), Some(ext)) => p.with_file_name(format!("{stem}-{index}.{ext}")).to_string_lossy().into_owned(),
        _ => format!("{path}-{index}"),
    }
}
