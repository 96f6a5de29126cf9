//! Sources and sinks that would clash at run time: a sink that writes the file a source reads
//! (it would truncate its own input), two sinks writing one file, and a stdout sink that writes
//! a CSV header beside another stdout sink: the lines of several stdout sinks interleave (each
//! line whole), so a header would stand above rows of other streams. Paths are compared in canonical form, so
//! `out.csv`, `./out.csv` and `dir/../out.csv` are one file.

use std::path::{Component, Path, PathBuf};

use super::Checker;
use crate::diag::Diagnostic;
use crate::plan::Format;
use crate::span::Span;

/// What one connector reads or writes, and where the pipeline says so.
pub(super) struct Access {
    target: Target,
    /// The path as written, for messages.
    shown: String,
    span: Span,
}

#[derive(PartialEq)]
enum Target {
    Read(PathBuf),
    /// A file sink; a partitioned one writes one part per worker next to the path.
    Write {
        path: PathBuf,
        partitioned: bool,
    },
    /// Standard output; `header`: a CSV header comes first.
    Stdout {
        header: bool,
    },
}

impl Access {
    pub(super) fn read(path: &str, span: Span) -> Access {
        Access { target: Target::Read(normalised(path)), shown: path.to_string(), span }
    }

    pub(super) fn write(path: &str, partitioned: bool, span: Span) -> Access {
        Access { target: Target::Write { path: normalised(path), partitioned }, shown: path.to_string(), span }
    }

    pub(super) fn stdout(format: &Format, span: Span) -> Access {
        let header = matches!(format, Format::Csv { header: true, .. });
        Access { target: Target::Stdout { header }, shown: "stdout".into(), span }
    }
}

impl Checker<'_> {
    /// Reports every sink that clashes with a source or an earlier sink.
    pub(super) fn clashes(&mut self) {
        let accesses = std::mem::take(&mut self.accesses);
        for (i, later) in accesses.iter().enumerate() {
            let Some(earlier) = accesses[..i].iter().find(|a| clash(a, later)) else { continue };
            self.error(message(earlier, later));
        }
    }
}

/// Whether `b` (declared after `a`) clashes with `a`. A source read after the sink that
/// writes its file clashes too (declarations are in any order).
fn clash(a: &Access, b: &Access) -> bool {
    match (&a.target, &b.target) {
        (Target::Read(r), Target::Write { path, partitioned: false })
        | (Target::Write { path, partitioned: false }, Target::Read(r)) => r == path,
        (Target::Write { .. }, Target::Write { .. }) => a.target == b.target,
        (Target::Stdout { header: x }, Target::Stdout { header: y }) => *x || *y,
        _ => false,
    }
}

fn message(a: &Access, b: &Access) -> Diagnostic {
    match (&a.target, &b.target) {
        (Target::Read(_), _) => {
            Diagnostic::error(b.span, format!("this sink writes '{}', which a source reads", b.shown))
                .label("the input of this pipeline")
                .related(a.span, "read here")
                .help("write to another file: opening it for writing would truncate the input before it is read")
        }
        (_, Target::Read(_)) => {
            Diagnostic::error(b.span, format!("this source reads '{}', which a sink writes", b.shown))
                .label("the output of this pipeline")
                .related(a.span, "written here")
                .help("write to another file: opening it for writing would truncate the input before it is read")
        }
        (Target::Stdout { .. }, Target::Stdout { .. }) => {
            Diagnostic::error(b.span, "two sinks write to stdout, and one of them writes a CSV header")
                .label("second stdout sink")
                .related(a.span, "first stdout sink")
                .help("the lines of several stdout sinks interleave, so the header would stand above rows of other streams: give it `header: false`, use one stdout sink (union the streams first), or file sinks")
        }
        _ => Diagnostic::error(b.span, format!("two sinks write '{}'", b.shown))
            .label("second sink of this file")
            .related(a.span, "first written here")
            .help("give each sink its own file, or union the streams into one sink"),
    }
}

/// The canonical form of a path: the file's own if it exists, else its directory's joined
/// with its name, else the path made absolute with `.` and `..` resolved by their text.
fn normalised(path: &str) -> PathBuf {
    let p = Path::new(path);
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    if let (Some(parent), Some(name)) = (p.parent(), p.file_name()) {
        let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
        if let Ok(c) = parent.canonicalize() {
            return c.join(name);
        }
    }
    let absolute = std::env::current_dir().map_or_else(|_| p.to_path_buf(), |d| d.join(p));
    let mut out = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_file_are_one_path() {
        assert_eq!(normalised("out.csv"), normalised("./out.csv"));
        assert_eq!(normalised("no/such/dir/out.csv"), normalised("no/such/./dir/../dir/out.csv"));
        assert_ne!(normalised("out.csv"), normalised("out2.csv"));
    }
}
