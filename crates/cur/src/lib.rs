//! Costline's CUR reader: finds AWS cost report deliveries in an S3 listing and turns report
//! files into normalized [`LineItem`]s.
//!
//! No database and no AWS client here: the caller lists the bucket, fetches manifests and streams
//! data files in; everything in this crate is synchronous and works on byte streams, so it can be
//! fuzzed and benchmarked on its own.
//!
//! - [`discovery`] plans which manifests to fetch and resolves billing periods to data files.
//! - [`manifest`] parses legacy CUR and Data Exports manifests.
//! - CSV readers ([`LegacyCsvReader`], [`Cur2CsvReader`], [`FocusCsvReader`], or [`CsvReader`]
//!   which detects the flavour from the header) stream from any `std::io::Read`, gzip or plain;
//!   [`ZippedCsv`] reads the one CSV of a `.csv.zip` archive.
//! - Parquet readers ([`LegacyParquetReader`], [`Cur2ParquetReader`], [`FocusParquetReader`]) read
//!   a spooled file (Parquet needs random access).
//! - [`generate`] writes realistic synthetic reports, with independently computed totals.
//!
//! The amortized-cost rule and the other normalization choices are explained in
//! `docs/adr/0004-cur-parsing.md`.

mod amortize;
mod columns;
mod csv_reader;
pub mod discovery;

mod error;
mod fastcsv;
pub mod generate;

mod item;
pub mod manifest;

mod num;
mod parquet_reader;

mod source;
mod tags;
mod zipped;

pub use amortize::{amortized_cost, net_amortized_cost, AmortizationInputs};
pub use csv_reader::{
    Compression, CsvFlavor, CsvReader, Cur2CsvReader, FocusCsvReader, LegacyCsvReader,
};
pub use error::{CurError, ValueKind};
pub use item::{LineItem, SourceFormat};
pub use num::{parse_decimal, parse_timestamp};

pub use parquet_reader::{
    Cur2ParquetReader, FocusParquetReader, LegacyParquetReader, ParquetFlavor, ParquetReader,
};
pub use zipped::{ZipEntryReader, ZippedCsv};
