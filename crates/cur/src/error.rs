//! The crate's one error type.

use std::fmt;

/// What kind of value a cell was expected to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// An exact decimal number such as `0.0123` or `1.2E-7`.
    Decimal,
    /// A date or timestamp.
    Timestamp,
    /// UTF-8 text.
    Text,
    /// A JSON object of tags.
    TagsJson,
}

impl fmt::Display for ValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueKind::Decimal => "decimal",
            ValueKind::Timestamp => "timestamp",
            ValueKind::Text => "UTF-8 text",
            ValueKind::TagsJson => "tags JSON object",
        })
    }
}

/// Everything that can go wrong reading a report.
///
/// Row numbers count data rows from 1 (the header is not a row), across all row groups of a
/// Parquet file.
#[derive(Debug, thiserror::Error)]
pub enum CurError {
    /// The header (or Parquet schema) lacks columns the format requires; all are named.
    #[error("{format} report is missing required column(s): {}", columns.join(", "))]
    MissingColumns {
        /// The format the file was read as.
        format: &'static str,
        /// Every missing column, in the format's own spelling.
        columns: Vec<String>,
    },
    /// A cell could not be parsed.
    #[error("row {row}, column {column}: invalid {kind} value {value:?}")]
    InvalidValue {
        /// Data row number, from 1.
        row: u64,
        /// Column name as spelled in the file.
        column: String,
        /// What the cell should have held.
        kind: ValueKind,
        /// The offending text (cut to 100 bytes).
        value: String,
    },
    /// A cell that must hold a value is empty.
    #[error("row {row}, column {column}: required value is empty")]
    EmptyValue {
        /// Data row number, from 1.
        row: u64,
        /// Column name as spelled in the file.
        column: String,
    },
    /// The gzip stream is corrupt or truncated.
    #[error("row {row}: gzip stream is corrupt or truncated: {source}")]
    Decompress {
        /// The data row being read when decompression failed.
        row: u64,
        /// The decoder's error.
        #[source]
        source: std::io::Error,
    },
    /// The CSV structure is broken (for example a row with a different number of fields).
    #[error("row {row}: malformed CSV: {message}")]
    Csv {
        /// Data row number, from 1.
        row: u64,
        /// What the CSV reader said.
        message: String,
    },
    /// Reading the underlying stream failed.
    #[error("row {row}: read failed: {source}")]
    Io {
        /// The data row being read when the read failed.
        row: u64,
        /// The stream's error.
        #[source]
        source: std::io::Error,
    },
    /// The file has no header row.
    #[error("report file is empty (no header row)")]
    EmptyFile,
    /// The Parquet file is corrupt or cannot be decoded.
    #[error("corrupt Parquet data at row {row}{}: {message}", column.as_deref().map(|c| format!(", column {c}")).unwrap_or_default())]
    Parquet {
        /// The data row being read (0 while reading the footer).
        row: u64,
        /// The column being decoded, when known.
        column: Option<String>,
        /// What the Parquet decoder said.
        message: String,
    },
    /// A Parquet column has a physical or logical type this reader cannot convert.
    #[error("Parquet column {column} has unsupported type {detail}")]
    UnsupportedParquetType {
        /// The column path.
        column: String,
        /// Its physical and logical type.
        detail: String,
    },
    /// A manifest could not be parsed.
    #[error("invalid manifest {key}: {message}")]
    Manifest {
        /// The manifest's S3 key (or a description of where it came from).
        key: String,
        /// What was wrong.
        message: String,
    },
    /// A `.csv.zip` file is not a ZIP archive holding one CSV file, as AWS writes it.
    #[error("ZIP archive: {0}")]
    Zip(String),
    /// The report generator failed (I/O or Parquet writer).
    #[error("report generator: {0}")]
    Generate(String),
}

impl CurError {
    pub(crate) fn invalid(row: u64, column: &str, kind: ValueKind, raw: &[u8]) -> Self {
        let cut = &raw[..raw.len().min(100)];
        CurError::InvalidValue {
            row,
            column: column.to_owned(),
            kind,
            value: String::from_utf8_lossy(cut).into_owned(),
        }
    }
}
