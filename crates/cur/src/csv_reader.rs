//! Streaming CSV readers: legacy CUR, CUR 2.0 and FOCUS, gzip or plain.
//!
//! The header is resolved once into a field -> column index table; each row is split by
//! [`Splitter`] into field ranges over its read buffer and normalized straight from those bytes.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::columns::{Field, Layout, FIELD_COUNT};
use crate::error::{CurError, ValueKind};
use crate::fastcsv::{Malformed, Split, Splitter};
use crate::item::{LineItem, SourceFormat};
use crate::num::{parse_decimal, parse_timestamp, TimestampCache};
use crate::source::{fill_cur, fill_focus, RowSource};
use crate::tags::{legacy_csv_tag_key, read_json_tags, MapKeys, TagWriter};

/// How the byte stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Look at the first bytes: the gzip magic `1f 8b` means gzip.
    #[default]
    Auto,
    /// Plain CSV.
    None,
    /// gzip (one or more members).
    Gzip,
}

impl Compression {
    /// Chooses by S3 key or file name: `.gz` is gzip, `.csv` plain, anything else [`Auto`].
    ///
    /// [`Auto`]: Compression::Auto
    pub fn from_file_name(name: &str) -> Self {
        if name.ends_with(".gz") || name.ends_with(".gzip") {
            Compression::Gzip
        } else if name.ends_with(".csv") {
            Compression::None
        } else {
            Compression::Auto
        }
    }
}

/// Which CSV report flavour a header belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvFlavor {
    /// Legacy CUR: `category/Name` headers.
    Legacy,
    /// CUR 2.0 Data Export: snake_case headers.
    Cur2,
    /// FOCUS Data Export: `BilledCost`, `ChargePeriodStart`, ...
    Focus,
}

impl CsvFlavor {
    /// Recognizes the flavour from header names.
    pub fn detect<S: AsRef<str>>(headers: &[S]) -> CsvFlavor {
        let has = |n: &str| headers.iter().any(|h| h.as_ref() == n);
        if has("BilledCost") || has("ChargePeriodStart") {
            CsvFlavor::Focus
        } else if headers.iter().any(|h| h.as_ref().contains('/')) {
            CsvFlavor::Legacy
        } else {
            CsvFlavor::Cur2
        }
    }

    fn layout(&self) -> Layout {
        match self {
            CsvFlavor::Legacy => Layout::LegacyCsv,
            CsvFlavor::Cur2 => Layout::Cur,
            CsvFlavor::Focus => Layout::Focus,
        }
    }

    fn source_format(&self) -> SourceFormat {
        match self {
            CsvFlavor::Legacy => SourceFormat::LegacyCsv,
            CsvFlavor::Cur2 => SourceFormat::Cur2Csv,
            CsvFlavor::Focus => SourceFormat::FocusCsv,
        }
    }

    fn format_name(&self) -> &'static str {
        match self {
            CsvFlavor::Legacy => "legacy CUR CSV",
            CsvFlavor::Cur2 => "CUR 2.0 CSV",
            CsvFlavor::Focus => "FOCUS CSV",
        }
    }
}

/// Remembers whether the raw stream (not the decompressor) failed, to tell a broken download
/// from a corrupt gzip file.
struct Tracked<R> {
    inner: R,
    failed: Arc<AtomicBool>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| {
            self.failed.store(true, Ordering::Relaxed);
        })
    }
}

enum Input<R: Read> {
    Plain(BufReader<Tracked<R>>),
    Gzip(Box<flate2::bufread::MultiGzDecoder<BufReader<Tracked<R>>>>),
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::Plain(r) => r.read(buf),
            Input::Gzip(r) => r.read(buf),
        }
    }
}

const READ_BUFFER: usize = 256 * 1024;
const TS_FIELDS: usize = 3;

/// The resolved header: where each field lives and how to read tags.
struct Mapping {
    flavor: CsvFlavor,
    idx: [u32; FIELD_COUNT],
    headers: Vec<String>,
    /// Legacy: (column, tag key) of every `resourceTags/user:*` column.
    tag_columns: Vec<(usize, String)>,
    /// CUR 2.0 `resource_tags` / `tags`, FOCUS `Tags`: one JSON column.
    tag_json: Option<(usize, MapKeys)>,
    null_literal: bool,
}

const ABSENT: u32 = u32::MAX;

impl Mapping {
    fn resolve(headers: Vec<String>, flavor: CsvFlavor) -> Result<Mapping, CurError> {
        let layout = flavor.layout();
        let mut idx = [ABSENT; FIELD_COUNT];
        let mut tag_columns = Vec::new();
        let mut tag_json = None;
        for (i, h) in headers.iter().enumerate() {
            if let Some(f) = layout.lookup(h) {
                if idx[f as usize] == ABSENT {
                    idx[f as usize] = i as u32;
                }
                continue;
            }
            match flavor {
                CsvFlavor::Legacy => {
                    if let Some(key) = legacy_csv_tag_key(h) {
                        tag_columns.push((i, key.to_owned()));
                    }
                }
                CsvFlavor::Cur2 => {
                    if h == "resource_tags" {
                        tag_json = Some((i, MapKeys::Cur2ResourceTags));
                    } else if h == "tags" && tag_json.is_none() {
                        tag_json = Some((i, MapKeys::Prefixed));
                    }
                }
                CsvFlavor::Focus => {
                    if h == "Tags" {
                        tag_json = Some((i, MapKeys::Prefixed));
                    }
                }
            }
        }
        let mut present = [false; FIELD_COUNT];
        for (p, i) in present.iter_mut().zip(idx.iter()) {
            *p = *i != ABSENT;
        }
        let missing = layout.missing(&present);
        if !missing.is_empty() {
            return Err(CurError::MissingColumns {
                format: flavor.format_name(),
                columns: missing,
            });
        }
        Ok(Mapping {
            flavor,
            idx,
            headers,
            tag_columns,
            tag_json,
            null_literal: flavor == CsvFlavor::Focus,
        })
    }
}

/// State reused from row to row: parsed timestamps per timestamp column, and tag pairs a row
/// did not need.
#[derive(Default)]
struct TsCache {
    ts: [TimestampCache; TS_FIELDS],
    spare_tags: Vec<(String, String)>,
}

struct Row<'a, R: Read> {
    rec: &'a Splitter<Input<R>>,
    map: &'a Mapping,
    cache: &'a mut TsCache,
    row: u64,
}

impl<R: Read> Row<'_, R> {
    #[inline(always)]
    fn raw(&self, f: Field) -> &[u8] {
        let i = self.map.idx[f as usize];
        if i == ABSENT {
            return b"";
        }
        let v = self.rec.field(i as usize);
        if self.map.null_literal && v == b"NULL" {
            b""
        } else {
            v
        }
    }
}

impl<R: Read> RowSource for Row<'_, R> {
    fn row(&self) -> u64 {
        self.row
    }

    fn has(&self, f: Field) -> bool {
        self.map.idx[f as usize] != ABSENT
    }

    fn column_name(&self, f: Field) -> &str {
        let i = self.map.idx[f as usize];
        if i == ABSENT {
            crate::columns::field_name(self.map.flavor.layout(), f)
        } else {
            &self.map.headers[i as usize]
        }
    }

    #[inline(always)]
    fn text(&mut self, f: Field) -> Result<&str, CurError> {
        let raw = self.raw(f);
        if self.rec.is_utf8() {
            // SAFETY: the splitter checked that the whole record, hence each field, is UTF-8.
            return Ok(unsafe { std::str::from_utf8_unchecked(raw) });
        }
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s),
            Err(_) => Err(CurError::invalid(
                self.row,
                self.column_name(f),
                ValueKind::Text,
                raw,
            )),
        }
    }

    #[inline(always)]
    fn decimal(&mut self, f: Field) -> Result<Option<Decimal>, CurError> {
        let raw = self.raw(f);
        if raw.is_empty() {
            return Ok(None);
        }
        match parse_decimal(raw) {
            Some(d) => Ok(Some(d)),
            None => Err(CurError::invalid(
                self.row,
                self.column_name(f),
                ValueKind::Decimal,
                raw,
            )),
        }
    }

    fn timestamp(&mut self, f: Field) -> Result<Option<DateTime<Utc>>, CurError> {
        let slot = match f {
            Field::BillingPeriodStart => Some(0),
            Field::UsageStart => Some(1),
            Field::UsageEnd => Some(2),
            _ => None,
        };
        let (rec, i) = (self.rec, self.map.idx[f as usize]);
        let raw: &[u8] = if i == ABSENT {
            b""
        } else {
            rec.field(i as usize)
        };
        if raw.is_empty() || (self.map.null_literal && raw == b"NULL") {
            return Ok(None);
        }
        let parsed = match slot {
            Some(s) => self.cache.ts[s].parse(raw),
            None => parse_timestamp(raw),
        };
        match parsed {
            Some(t) => Ok(Some(t)),
            None => Err(CurError::invalid(
                self.row,
                self.column_name(f),
                ValueKind::Timestamp,
                raw,
            )),
        }
    }

    fn tags(&mut self, out: &mut Vec<(String, String)>) -> Result<(), CurError> {
        let mut out = TagWriter::with_spare(out, &mut self.cache.spare_tags);
        let utf8 = self.rec.is_utf8();
        for columns in self.map.tag_columns.chunks(64) {
            // Which tag cells are filled, as bits, so that the loop below visits only those
            // (a branch per empty cell would mispredict on a row's mix of set and unset tags).
            let mut filled = 0u64;
            for (k, (i, _)) in columns.iter().enumerate() {
                filled |= (self.rec.is_filled(*i) as u64) << k;
            }
            while filled != 0 {
                let (i, key) = &columns[filled.trailing_zeros() as usize];
                filled &= filled - 1;
                let raw = self.rec.field(*i);
                if utf8 {
                    // SAFETY: the splitter checked that the whole record is UTF-8.
                    out.push(key, unsafe { std::str::from_utf8_unchecked(raw) });
                    continue;
                }
                match std::str::from_utf8(raw) {
                    Ok(v) => out.push(key, v),
                    Err(_) => {
                        return Err(CurError::invalid(
                            self.row,
                            &self.map.headers[*i],
                            ValueKind::Text,
                            raw,
                        ))
                    }
                }
            }
        }
        if let Some((i, keys)) = self.map.tag_json {
            let raw = self.rec.field(i);
            if raw.is_empty() || raw == b"NULL" || raw == b"{}" {
                return Ok(());
            }
            if read_json_tags(raw, keys, &mut out).is_err() {
                return Err(CurError::invalid(
                    self.row,
                    &self.map.headers[i],
                    ValueKind::TagsJson,
                    raw,
                ));
            }
        }
        Ok(())
    }
}

/// A CSV report reader that recognizes the flavour (legacy CUR, CUR 2.0, FOCUS) from the header.
///
/// Streams in constant memory. Iterate for owned [`LineItem`]s, or call [`read_into`] to reuse
/// one item's allocations. After an error the reader is finished.
///
/// [`read_into`]: CsvReader::read_into
pub struct CsvReader<R: Read> {
    rdr: Splitter<Input<R>>,
    map: Mapping,
    cache: TsCache,
    row: u64,
    gzip: bool,
    raw_failed: Arc<AtomicBool>,
    done: bool,
}

impl<R: Read> CsvReader<R> {
    /// Opens a report, detecting gzip from the first bytes and the flavour from the header.
    pub fn new(reader: R) -> Result<Self, CurError> {
        Self::open(reader, Compression::Auto, None)
    }

    /// Opens a report with the compression given (e.g. from [`Compression::from_file_name`]).
    pub fn with_compression(reader: R, compression: Compression) -> Result<Self, CurError> {
        Self::open(reader, compression, None)
    }

    /// Opens a report as a given flavour, without detection.
    pub fn with_flavor(
        reader: R,
        compression: Compression,
        flavor: CsvFlavor,
    ) -> Result<Self, CurError> {
        Self::open(reader, compression, Some(flavor))
    }

    fn open(
        reader: R,
        compression: Compression,
        flavor: Option<CsvFlavor>,
    ) -> Result<Self, CurError> {
        let raw_failed = Arc::new(AtomicBool::new(false));
        let mut buf = BufReader::with_capacity(
            READ_BUFFER,
            Tracked {
                inner: reader,
                failed: raw_failed.clone(),
            },
        );
        let gzip = match compression {
            Compression::Gzip => true,
            Compression::None => false,
            Compression::Auto => {
                let head = buf
                    .fill_buf()
                    .map_err(|source| CurError::Io { row: 0, source })?;
                head.starts_with(&[0x1f, 0x8b])
            }
        };
        let input = if gzip {
            Input::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(buf)))
        } else {
            Input::Plain(buf)
        };
        let mut rdr = Splitter::new(input);
        let headers: Vec<String> = match rdr.next_record() {
            Ok(Ok(Split::Record)) => (0..rdr.len())
                .map(|i| {
                    let b = rdr.field(i);
                    let b = if i == 0 {
                        b.strip_prefix(b"\xef\xbb\xbf").unwrap_or(b)
                    } else {
                        b
                    };
                    String::from_utf8_lossy(b).trim().to_owned()
                })
                .collect(),
            Ok(Ok(Split::End)) => return Err(CurError::EmptyFile),
            Ok(Err(Malformed(message))) => return Err(CurError::Csv { row: 0, message }),
            Err(e) => return Err(map_io_error(e, 0, gzip, &raw_failed)),
        };
        if headers.is_empty() || (headers.len() == 1 && headers[0].is_empty()) {
            return Err(CurError::EmptyFile);
        }
        let flavor = flavor.unwrap_or_else(|| CsvFlavor::detect(&headers));
        let map = Mapping::resolve(headers, flavor)?;
        Ok(CsvReader {
            rdr,
            map,
            cache: TsCache::default(),
            row: 0,
            gzip,
            raw_failed,
            done: false,
        })
    }

    /// The flavour the header was read as.
    pub fn flavor(&self) -> CsvFlavor {
        self.map.flavor
    }

    /// The [`SourceFormat`] stamped on every item.
    pub fn source_format(&self) -> SourceFormat {
        self.map.flavor.source_format()
    }

    /// The header, as in the file.
    pub fn headers(&self) -> &[String] {
        &self.map.headers
    }

    /// Data rows read so far.
    pub fn rows_read(&self) -> u64 {
        self.row
    }

    /// Reads the next row into `item`, reusing its allocations. `Ok(false)` at the end.
    pub fn read_into(&mut self, item: &mut LineItem) -> Result<bool, CurError> {
        self.advance(|r| r.read_row(item))
    }

    /// Splits the next record into fields without normalizing it: the splitting step alone,
    /// which the benchmark times as the floor under parse-and-normalize. `Ok(false)` at the
    /// end; errors as [`CsvReader::read_into`] gives them for the record's shape.
    #[doc(hidden)]
    pub fn split_next(&mut self) -> Result<bool, CurError> {
        self.advance(Self::split_row)
    }

    /// One step of the reader: nothing after the end or an error, and an error in a gzip
    /// stream told apart from corruption.
    #[inline(always)]
    fn advance(
        &mut self,
        step: impl FnOnce(&mut Self) -> Result<bool, CurError>,
    ) -> Result<bool, CurError> {
        if self.done {
            return Ok(false);
        }
        let res = step(self);
        if !matches!(res, Ok(true)) {
            self.done = true;
        }
        match res {
            Err(e)
                if self.gzip && !matches!(e, CurError::Decompress { .. } | CurError::Io { .. }) =>
            {
                // gzip checks integrity only at the end of a member: damaged deflate data can
                // first surface as garbage CSV. Read on to tell corruption from a bad cell.
                match io::copy(self.rdr.get_mut(), &mut io::sink()) {
                    Err(source) if !self.raw_failed.load(Ordering::Relaxed) => {
                        Err(CurError::Decompress {
                            row: self.row,
                            source,
                        })
                    }
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    fn read_row(&mut self, item: &mut LineItem) -> Result<bool, CurError> {
        if !self.split_row()? {
            return Ok(false);
        }
        item.source_format = self.map.flavor.source_format();
        let mut row = Row {
            rec: &self.rdr,
            map: &self.map,
            cache: &mut self.cache,
            row: self.row,
        };
        match self.map.flavor {
            CsvFlavor::Focus => fill_focus(&mut row, item)?,
            _ => fill_cur(&mut row, item)?,
        }
        Ok(true)
    }

    /// The next record's fields, checked against the header's length.
    #[inline(always)]
    fn split_row(&mut self) -> Result<bool, CurError> {
        match self.rdr.next_record() {
            Ok(Ok(Split::Record)) => {}
            Ok(Ok(Split::End)) => return Ok(false),
            Ok(Err(Malformed(message))) => {
                return Err(CurError::Csv {
                    row: self.row + 1,
                    message: format!("line {}: {message}", self.rdr.line + 1),
                })
            }
            Err(e) => return Err(map_io_error(e, self.row + 1, self.gzip, &self.raw_failed)),
        }
        self.row += 1;
        if self.rdr.len() != self.map.headers.len() {
            return Err(CurError::Csv {
                row: self.row,
                message: format!(
                    "line {}: record has {} fields, the header has {}",
                    self.rdr.line,
                    self.rdr.len(),
                    self.map.headers.len()
                ),
            });
        }
        Ok(true)
    }
}

fn map_io_error(source: io::Error, row: u64, gzip: bool, raw_failed: &AtomicBool) -> CurError {
    if gzip && !raw_failed.load(Ordering::Relaxed) {
        CurError::Decompress { row, source }
    } else {
        CurError::Io { row, source }
    }
}

impl<R: Read> Iterator for CsvReader<R> {
    type Item = Result<LineItem, CurError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut item = LineItem::default();
        match self.read_into(&mut item) {
            Ok(true) => Some(Ok(item)),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

macro_rules! flavored_reader {
    ($(#[$doc:meta])* $name:ident, $flavor:expr) => {
        $(#[$doc])*
        pub struct $name<R: Read>(CsvReader<R>);

        impl<R: Read> $name<R> {
            /// Opens a report, detecting gzip from the first bytes.
            pub fn new(reader: R) -> Result<Self, CurError> {
                Self::with_compression(reader, Compression::Auto)
            }

            /// Opens a report with the compression given (e.g. from
            /// [`Compression::from_file_name`]).
            pub fn with_compression(reader: R, compression: Compression) -> Result<Self, CurError> {
                CsvReader::with_flavor(reader, compression, $flavor).map($name)
            }

            /// The header, as in the file.
            pub fn headers(&self) -> &[String] {
                self.0.headers()
            }

            /// Data rows read so far.
            pub fn rows_read(&self) -> u64 {
                self.0.rows_read()
            }

            /// Reads the next row into `item`, reusing its allocations. `Ok(false)` at the end.
            pub fn read_into(&mut self, item: &mut LineItem) -> Result<bool, CurError> {
                self.0.read_into(item)
            }

            /// See [`CsvReader::split_next`].
            #[doc(hidden)]
            pub fn split_next(&mut self) -> Result<bool, CurError> {
                self.0.split_next()
            }
        }

        impl<R: Read> Iterator for $name<R> {
            type Item = Result<LineItem, CurError>;
            fn next(&mut self) -> Option<Self::Item> {
                self.0.next()
            }
        }
    };
}

flavored_reader!(
    /// Legacy CUR CSV (`identity/LineItemId,...,lineItem/UnblendedCost,...`), gzip or plain.
    /// User tags come from `resourceTags/user:*` columns.
    LegacyCsvReader,
    CsvFlavor::Legacy
);
flavored_reader!(
    /// CUR 2.0 Data Export CSV (snake_case columns); tags from the `resource_tags` JSON map.
    Cur2CsvReader,
    CsvFlavor::Cur2
);
flavored_reader!(
    /// FOCUS 1.x Data Export CSV; `NULL` cells are empty; tags from the `Tags` JSON object.
    FocusCsvReader,
    CsvFlavor::Focus
);
