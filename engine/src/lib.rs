//! The Eddy engine: renders a plan as a timely/differential dataflow and runs it on threads,
//! processes and machines.

mod cluster;
mod connector;
pub mod format;
pub mod nexmark;
mod render;
mod run;
mod summary;

pub use connector::sink::RustSink;
pub use connector::{Ack, Feed};
pub use run::{run, Bindings, Error, RunConfig};
pub use summary::{IterateSummary, SinkSummary, SourceSummary, Summary};
