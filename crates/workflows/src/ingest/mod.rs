//! `ingest_period`: load one billing period's newest assembly into a fresh line item table and
//! swap it in with the period's rollups (`costline_store::cur`).
//!
//! Every file is streamed from S3 and parsed while it downloads: the async body is bridged into
//! a blocking parser thread (`SyncIoBridge`), which encodes line items into zstd-compressed
//! chunks of binary COPY tuples that go through a small bounded channel to the file's own `COPY`
//! connection. Parquet needs random access, so it is spooled to a temporary file first. A few
//! files run at once. Memory per file is a couple of chunks plus the parser's buffers, whatever
//! the file's size.
//!
//! A missing or corrupt file, or a file without the required columns, fails the period with the
//! file named; the staging table is dropped and the previous assembly stays served.
//!
//! One file per idea:
//! - `plan`: the job's payload, what `poll_cur` found;
//! - `job`: the handler, from plan to served (or failed) period;
//! - `load`: the period's files into the staging table, a few at once;
//! - `parse`: one file on a blocking thread, into chunks and rollups;
//! - `error`: why a period failed, and whether to retry;
//! - `notices`: what the admins are told (first report, backfills).

mod error;
mod job;
mod load;
mod notices;
mod parse;
mod plan;

pub(crate) use job::IngestPeriod;
pub use load::PARALLEL_FILES;
pub use parse::new_line_item;
pub use plan::{IngestPayload, IngestPlan, PlannedFile};
