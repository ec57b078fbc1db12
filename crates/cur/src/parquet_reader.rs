//! Parquet readers for legacy CUR (Athena integration), CUR 2.0 and FOCUS exports.
//!
//! Uses parquet's low-level column readers (no arrow): each needed leaf column is read in
//! batches of decoded values plus definition/repetition levels, and rows are walked across the
//! batches. Map columns (`resource_tags`, FOCUS `Tags`) are read as their key and value leaves.

use std::fs::File;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use parquet::basic::{ConvertedType, LogicalType, TimeUnit, Type as PhysicalType};
use parquet::column::reader::ColumnReader;
use parquet::data_type::{ByteArray, FixedLenByteArray, Int96};
use parquet::file::reader::{ChunkReader, FileReader, SerializedFileReader};
use parquet::schema::types::ColumnDescPtr;
use rust_decimal::Decimal;

use crate::columns::{Field, Layout, FIELD_COUNT};
use crate::error::{CurError, ValueKind};
use crate::item::{LineItem, SourceFormat};
use crate::num::{decimal_from_f64, parse_decimal, parse_timestamp, timestamp_from_units};
use crate::source::{fill_cur, fill_focus, RowSource};
use crate::tags::{snake_tag_key, MapKeys, TagWriter};

const BATCH: usize = 4096;

/// Which Parquet report flavour a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParquetFlavor {
    /// Legacy CUR with Athena integration: flat columns, `resource_tags_user_*` tag columns.
    Legacy,
    /// CUR 2.0: snake_case columns, `resource_tags` map.
    Cur2,
    /// FOCUS 1.x: `BilledCost`, ..., `Tags` map.
    Focus,
}

impl ParquetFlavor {
    fn layout(&self) -> Layout {
        match self {
            ParquetFlavor::Focus => Layout::Focus,
            _ => Layout::Cur,
        }
    }
    fn source_format(&self) -> SourceFormat {
        match self {
            ParquetFlavor::Legacy => SourceFormat::LegacyParquet,
            ParquetFlavor::Cur2 => SourceFormat::Cur2Parquet,
            ParquetFlavor::Focus => SourceFormat::FocusParquet,
        }
    }
    fn format_name(&self) -> &'static str {
        match self {
            ParquetFlavor::Legacy => "legacy CUR Parquet",
            ParquetFlavor::Cur2 => "CUR 2.0 Parquet",
            ParquetFlavor::Focus => "FOCUS Parquet",
        }
    }
}

/// How a leaf's physical values turn into text, decimals and timestamps.
#[derive(Debug, Clone, Copy)]
enum Conv {
    Plain,
    Decimal(u32),
    TimestampUnits(i64),
    Date,
}

enum Vals {
    Bool(Vec<bool>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    I96(Vec<Int96>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bytes(Vec<ByteArray>),
    Fixed(Vec<FixedLenByteArray>),
}

impl Vals {
    fn for_type(t: PhysicalType) -> Vals {
        match t {
            PhysicalType::BOOLEAN => Vals::Bool(Vec::new()),
            PhysicalType::INT32 => Vals::I32(Vec::new()),
            PhysicalType::INT64 => Vals::I64(Vec::new()),
            PhysicalType::INT96 => Vals::I96(Vec::new()),
            PhysicalType::FLOAT => Vals::F32(Vec::new()),
            PhysicalType::DOUBLE => Vals::F64(Vec::new()),
            PhysicalType::BYTE_ARRAY => Vals::Bytes(Vec::new()),
            PhysicalType::FIXED_LEN_BYTE_ARRAY => Vals::Fixed(Vec::new()),
        }
    }
}

/// What a leaf column is for.
#[derive(Debug, Clone)]
enum Role {
    Field(Field),
    /// Legacy `resource_tags_user_<key>` column.
    TagColumn(String),
    /// Key leaf of a tag map.
    MapKey,
    /// Value leaf of a tag map.
    MapValue,
}

struct Leaf {
    col: usize,
    name: String,
    role: Role,
    conv: Conv,
    max_def: i16,
    max_rep: i16,
    reader: Option<ColumnReader>,
    def: Vec<i16>,
    rep: Vec<i16>,
    vals: Vals,
    levels: usize,
    lvl: usize,
    val: usize,
    /// Flat leaves: index of the current row's value.
    cur: Option<usize>,
    /// Repeated leaves: the current row's level range and first value index.
    row_lvls: (usize, usize),
    row_val: usize,
}

impl Leaf {
    fn read_batch(&mut self) -> Result<usize, parquet::errors::ParquetError> {
        self.def.clear();
        self.rep.clear();
        let reader = self.reader.as_mut().expect("reader set per row group");
        let (records, _values, levels) = match (reader, &mut self.vals) {
            (ColumnReader::BoolColumnReader(r), Vals::Bool(v)) => {
                v.clear();
                r.read_records(BATCH, Some(&mut self.def), Some(&mut self.rep), v)?
            }
            (ColumnReader::Int32ColumnReader(r), Vals::I32(v)) => {
                v.clear();
                r.read_records(BATCH, Some(&mut self.def), Some(&mut self.rep), v)?
            }
            (ColumnReader::Int64ColumnReader(r), Vals::I64(v)) => {
                v.clear();
                r.read_records(BATCH, Some(&mut self.def), Some(&mut self.rep), v)?
            }
            (ColumnReader::Int96ColumnReader(r), Vals::I96(v)) => {
                v.clear();
                r.read_records(BATCH, Some(&mut self.def), Some(&mut self.rep), v)?
            }
            (ColumnReader::FloatColumnReader(r), Vals::F32(v)) => {
                v.clear();
                r.read_records(BATCH, Some(&mut self.def), Some(&mut self.rep), v)?
            }
            (ColumnReader::DoubleColumnReader(r), Vals::F64(v)) => {
                v.clear();
                r.read_records(BATCH, Some(&mut self.def), Some(&mut self.rep), v)?
            }
            (ColumnReader::ByteArrayColumnReader(r), Vals::Bytes(v)) => {
                v.clear();
                r.read_records(BATCH, Some(&mut self.def), Some(&mut self.rep), v)?
            }
            (ColumnReader::FixedLenByteArrayColumnReader(r), Vals::Fixed(v)) => {
                v.clear();
                r.read_records(BATCH, Some(&mut self.def), Some(&mut self.rep), v)?
            }
            _ => {
                return Err(parquet::errors::ParquetError::General(
                    "column reader and value buffer types differ".into(),
                ))
            }
        };
        self.levels = if self.max_def == 0 && self.max_rep == 0 {
            records
        } else {
            levels
        };
        self.lvl = 0;
        self.val = 0;
        Ok(records)
    }

    /// Moves to the next row of the current batch.
    fn advance(&mut self) -> Result<(), String> {
        if self.max_rep == 0 {
            if self.lvl >= self.levels {
                return Err("column has fewer values than rows".into());
            }
            let present = self.max_def == 0 || self.def[self.lvl] == self.max_def;
            self.lvl += 1;
            if present {
                self.cur = Some(self.val);
                self.val += 1;
            } else {
                self.cur = None;
            }
            return Ok(());
        }
        let start = self.lvl;
        if start >= self.levels {
            return Err("repeated column has fewer records than rows".into());
        }
        let row_val = self.val;
        let mut i = start;
        while i < self.levels && (i == start || self.rep[i] != 0) {
            if self.def[i] == self.max_def {
                self.val += 1;
            }
            i += 1;
        }
        self.lvl = i;
        self.row_lvls = (start, i);
        self.row_val = row_val;
        Ok(())
    }
}

/// The current row, seen through the leaves.
struct PqRow<'a> {
    leaves: &'a [Leaf],
    fields: &'a [Option<usize>; FIELD_COUNT],
    map_pairs: &'a [(usize, usize, MapKeys)],
    layout: Layout,
    row: u64,
    scratch: &'a mut String,
}

impl PqRow<'_> {
    fn leaf(&self, f: Field) -> Option<&Leaf> {
        self.fields[f as usize].map(|i| &self.leaves[i])
    }
}

fn bytes_at(leaf: &Leaf, i: usize) -> &[u8] {
    match &leaf.vals {
        Vals::Bytes(v) => v[i].data(),
        Vals::Fixed(v) => v[i].data(),
        _ => b"",
    }
}

fn be_int(b: &[u8]) -> Option<i128> {
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let mut v: i128 = if b[0] & 0x80 != 0 { -1 } else { 0 };
    for &x in b {
        v = (v << 8) | x as i128;
    }
    Some(v)
}

impl RowSource for PqRow<'_> {
    fn row(&self) -> u64 {
        self.row
    }

    fn has(&self, f: Field) -> bool {
        self.fields[f as usize].is_some()
    }

    fn column_name(&self, f: Field) -> &str {
        match self.leaf(f) {
            Some(l) => &l.name,
            None => crate::columns::field_name(self.layout, f),
        }
    }

    fn text(&mut self, f: Field) -> Result<&str, CurError> {
        let Some(leaf) = self.fields[f as usize].map(|i| &self.leaves[i]) else {
            return Ok("");
        };
        let Some(i) = leaf.cur else { return Ok("") };
        use std::fmt::Write;
        self.scratch.clear();
        match &leaf.vals {
            Vals::Bytes(_) | Vals::Fixed(_) => {
                let raw = bytes_at(leaf, i);
                return std::str::from_utf8(raw)
                    .map_err(|_| CurError::invalid(self.row, &leaf.name, ValueKind::Text, raw));
            }
            Vals::I32(v) => write!(self.scratch, "{}", v[i]),
            Vals::I64(v) => write!(self.scratch, "{}", v[i]),
            Vals::F32(v) => write!(self.scratch, "{}", v[i]),
            Vals::F64(v) => write!(self.scratch, "{}", v[i]),
            Vals::Bool(v) => write!(self.scratch, "{}", v[i]),
            Vals::I96(v) => write!(self.scratch, "{}", v[i].to_nanos()),
        }
        .expect("writing to a String");
        Ok(self.scratch.as_str())
    }

    fn decimal(&mut self, f: Field) -> Result<Option<Decimal>, CurError> {
        let Some(leaf) = self.leaf(f) else {
            return Ok(None);
        };
        let Some(i) = leaf.cur else { return Ok(None) };
        let bad = |raw: &[u8]| CurError::invalid(self.row, &leaf.name, ValueKind::Decimal, raw);
        let v = match (&leaf.vals, leaf.conv) {
            (Vals::F64(v), _) => {
                decimal_from_f64(v[i]).ok_or_else(|| bad(v[i].to_string().as_bytes()))?
            }
            (Vals::F32(v), _) => {
                let s = format!("{:e}", v[i]);
                parse_decimal(s.as_bytes()).ok_or_else(|| bad(s.as_bytes()))?
            }
            (Vals::I32(v), Conv::Decimal(scale)) => {
                Decimal::from_i128_with_scale(v[i] as i128, scale)
            }
            (Vals::I64(v), Conv::Decimal(scale)) => {
                Decimal::from_i128_with_scale(v[i] as i128, scale)
            }
            (Vals::I32(v), _) => Decimal::from(v[i]),
            (Vals::I64(v), _) => Decimal::from(v[i]),
            (Vals::Bytes(_) | Vals::Fixed(_), Conv::Decimal(scale)) => {
                let raw = bytes_at(leaf, i);
                let m = be_int(raw).ok_or_else(|| bad(raw))?;
                Decimal::try_from_i128_with_scale(m, scale).map_err(|_| bad(raw))?
            }
            (Vals::Bytes(_) | Vals::Fixed(_), _) => {
                let raw = bytes_at(leaf, i);
                if raw.is_empty() {
                    return Ok(None);
                }
                parse_decimal(raw).ok_or_else(|| bad(raw))?
            }
            (Vals::Bool(_) | Vals::I96(_), _) => return Err(bad(b"<non-numeric column>")),
        };
        Ok(Some(v))
    }

    fn timestamp(&mut self, f: Field) -> Result<Option<DateTime<Utc>>, CurError> {
        let Some(leaf) = self.leaf(f) else {
            return Ok(None);
        };
        let Some(i) = leaf.cur else { return Ok(None) };
        let bad = |raw: &[u8]| CurError::invalid(self.row, &leaf.name, ValueKind::Timestamp, raw);
        let t = match (&leaf.vals, leaf.conv) {
            (Vals::I64(v), Conv::TimestampUnits(u)) => timestamp_from_units(v[i], u),
            (Vals::I64(v), _) => {
                // Unannotated epoch count: choose the unit by magnitude.
                let x = v[i];
                let unit = match x.unsigned_abs() {
                    n if n >= 100_000_000_000_000_000 => 1_000_000_000,
                    n if n >= 100_000_000_000_000 => 1_000_000,
                    n if n >= 100_000_000_000 => 1_000,
                    _ => 1,
                };
                timestamp_from_units(x, unit)
            }
            (Vals::I96(v), _) => Some(DateTime::from_timestamp_nanos(v[i].to_nanos())),
            (Vals::I32(v), Conv::Date) => NaiveDate::from_ymd_opt(1970, 1, 1)
                .and_then(|d| d.checked_add_signed(chrono::Duration::days(v[i] as i64)))
                .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc()),
            (Vals::Bytes(_) | Vals::Fixed(_), _) => {
                let raw = bytes_at(leaf, i);
                if raw.is_empty() {
                    return Ok(None);
                }
                Some(parse_timestamp(raw).ok_or_else(|| bad(raw))?)
            }
            _ => None,
        };
        t.map(Some).ok_or_else(|| bad(b"<unconvertible timestamp>"))
    }

    fn tags(&mut self, out: &mut Vec<(String, String)>) -> Result<(), CurError> {
        let mut out = TagWriter::new(out);
        for leaf in self.leaves {
            if let Role::TagColumn(key) = &leaf.role {
                if let Some(i) = leaf.cur {
                    let raw = bytes_at(leaf, i);
                    let v = std::str::from_utf8(raw).map_err(|_| {
                        CurError::invalid(self.row, &leaf.name, ValueKind::Text, raw)
                    })?;
                    out.push(key, v);
                }
            }
        }
        for &(k, v, keys) in self.map_pairs {
            let (kl, vl) = (&self.leaves[k], &self.leaves[v]);
            let (ks, ke) = kl.row_lvls;
            let (vs, ve) = vl.row_lvls;
            if ke - ks != ve - vs {
                return Err(CurError::Parquet {
                    row: self.row,
                    column: Some(kl.name.clone()),
                    message: "map keys and values disagree".into(),
                });
            }
            let (mut kv, mut vv) = (kl.row_val, vl.row_val);
            for j in 0..(ke - ks) {
                let key = if kl.def[ks + j] == kl.max_def {
                    kv += 1;
                    Some(bytes_at(kl, kv - 1))
                } else {
                    None
                };
                let value = if vl.def[vs + j] == vl.max_def {
                    vv += 1;
                    Some(bytes_at(vl, vv - 1))
                } else {
                    None
                };
                if let (Some(key), Some(value)) = (key, value) {
                    let (Ok(key), Ok(value)) =
                        (std::str::from_utf8(key), std::str::from_utf8(value))
                    else {
                        return Err(CurError::invalid(self.row, &kl.name, ValueKind::Text, key));
                    };
                    if let Some(k) = keys.user_key(key) {
                        out.push(k, value);
                    }
                }
            }
        }
        Ok(())
    }
}

/// A Parquet report reader; recognizes the flavour from the schema unless told.
///
/// Parquet needs random access, so the caller spools the object to a file (or memory) first.
/// Memory stays bounded by one batch of the needed columns per row group.
pub struct ParquetReader {
    file: Box<dyn FileReader>,
    flavor: ParquetFlavor,
    leaves: Vec<Leaf>,
    fields: [Option<usize>; FIELD_COUNT],
    map_pairs: Vec<(usize, usize, MapKeys)>,
    row_group: usize,
    batch_rows: usize,
    batch_pos: usize,
    row: u64,
    scratch: String,
    done: bool,
}

fn pq_err(row: u64, column: Option<&str>, e: impl std::fmt::Display) -> CurError {
    CurError::Parquet {
        row,
        column: column.map(str::to_owned),
        message: e.to_string(),
    }
}

fn conv_for(d: &ColumnDescPtr) -> Conv {
    match d.logical_type_ref() {
        Some(LogicalType::Decimal(t)) => return Conv::Decimal(t.scale.max(0) as u32),
        Some(LogicalType::Timestamp(t)) => {
            return Conv::TimestampUnits(match t.unit {
                TimeUnit::MILLIS => 1_000,
                TimeUnit::MICROS => 1_000_000,
                TimeUnit::NANOS => 1_000_000_000,
            })
        }
        Some(LogicalType::Date) => return Conv::Date,
        _ => {}
    }
    match d.converted_type() {
        ConvertedType::DECIMAL => Conv::Decimal(d.type_scale().max(0) as u32),
        ConvertedType::TIMESTAMP_MILLIS => Conv::TimestampUnits(1_000),
        ConvertedType::TIMESTAMP_MICROS => Conv::TimestampUnits(1_000_000),
        ConvertedType::DATE => Conv::Date,
        _ => Conv::Plain,
    }
}

impl ParquetReader {
    /// Opens a spooled Parquet file, detecting the flavour from its schema.
    pub fn new(file: File) -> Result<Self, CurError> {
        Self::from_chunk_reader(file, None)
    }

    /// Opens Parquet bytes held in memory.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Result<Self, CurError> {
        Self::from_chunk_reader(bytes.into(), None)
    }

    /// Opens any parquet [`ChunkReader`], as the given flavour or detected from the schema.
    pub fn from_chunk_reader<C: ChunkReader + 'static>(
        reader: C,
        flavor: Option<ParquetFlavor>,
    ) -> Result<Self, CurError> {
        let file = SerializedFileReader::new(reader).map_err(|e| pq_err(0, None, e))?;
        let file: Box<dyn FileReader> = Box::new(file);
        let schema = file.metadata().file_metadata().schema_descr_ptr();
        let columns: Vec<ColumnDescPtr> = (0..schema.num_columns())
            .map(|i| schema.column(i))
            .collect();
        let top = |c: &ColumnDescPtr| c.path().parts()[0].clone();
        let flavor = flavor.unwrap_or_else(|| {
            let names: Vec<String> = columns.iter().map(top).collect();
            let has = |n: &str| names.iter().any(|x| x == n);
            let nested = |n: &str| {
                columns
                    .iter()
                    .any(|c| c.path().parts().len() > 1 && c.path().parts()[0] == n)
            };
            if has("BilledCost") || has("ChargePeriodStart") {
                ParquetFlavor::Focus
            } else if nested("resource_tags") || nested("product") || has("bill_payer_account_name")
            {
                ParquetFlavor::Cur2
            } else {
                ParquetFlavor::Legacy
            }
        });
        let layout = flavor.layout();
        let mut leaves = Vec::new();
        let mut fields: [Option<usize>; FIELD_COUNT] = [None; FIELD_COUNT];
        let mut map_keys: Vec<(String, usize)> = Vec::new();
        let mut map_values: Vec<(String, usize)> = Vec::new();
        for (col, d) in columns.iter().enumerate() {
            let parts = d.path().parts();
            let role = if parts.len() == 1 {
                if let Some(f) = layout.lookup(&parts[0]) {
                    if fields[f as usize].is_some() {
                        continue;
                    }
                    Role::Field(f)
                } else if let (ParquetFlavor::Legacy, Some(k)) = (flavor, snake_tag_key(&parts[0]))
                {
                    if d.physical_type() != PhysicalType::BYTE_ARRAY {
                        continue;
                    }
                    Role::TagColumn(k.to_owned())
                } else {
                    continue;
                }
            } else if parts.len() == 3
                && matches!(parts[0].as_str(), "resource_tags" | "tags" | "Tags")
                && d.physical_type() == PhysicalType::BYTE_ARRAY
                && d.max_rep_level() == 1
            {
                match parts[2].as_str() {
                    "key" => {
                        map_keys.push((parts[0].clone(), leaves.len()));
                        Role::MapKey
                    }
                    "value" => {
                        map_values.push((parts[0].clone(), leaves.len()));
                        Role::MapValue
                    }
                    _ => continue,
                }
            } else {
                continue;
            };
            if let Role::Field(f) = role {
                if d.max_rep_level() > 0 {
                    continue;
                }
                fields[f as usize] = Some(leaves.len());
            }
            leaves.push(Leaf {
                col,
                name: d.path().string(),
                role,
                conv: conv_for(d),
                max_def: d.max_def_level(),
                max_rep: d.max_rep_level(),
                reader: None,
                def: Vec::new(),
                rep: Vec::new(),
                vals: Vals::for_type(d.physical_type()),
                levels: 0,
                lvl: 0,
                val: 0,
                cur: None,
                row_lvls: (0, 0),
                row_val: 0,
            });
        }
        let mut present = [false; FIELD_COUNT];
        for (p, f) in present.iter_mut().zip(fields.iter()) {
            *p = f.is_some();
        }
        let missing = layout.missing(&present);
        if !missing.is_empty() {
            return Err(CurError::MissingColumns {
                format: flavor.format_name(),
                columns: missing,
            });
        }
        // Pick one tag map: CUR 2.0 prefers `resource_tags`, FOCUS has `Tags`.
        let mut map_pairs = Vec::new();
        for name in ["resource_tags", "Tags", "tags"] {
            let k = map_keys.iter().find(|(n, _)| n == name);
            let v = map_values.iter().find(|(n, _)| n == name);
            if let (Some((_, k)), Some((_, v))) = (k, v) {
                let keys = if name == "resource_tags" {
                    MapKeys::Cur2ResourceTags
                } else {
                    MapKeys::Prefixed
                };
                map_pairs.push((*k, *v, keys));
                break;
            }
        }
        // Leaves of maps we do not use are not read.
        let used: Vec<usize> = map_pairs.iter().flat_map(|(k, v, _)| [*k, *v]).collect();
        let mut remap = vec![usize::MAX; leaves.len()];
        let mut kept = Vec::new();
        for (i, leaf) in leaves.into_iter().enumerate() {
            if matches!(leaf.role, Role::MapKey | Role::MapValue) && !used.contains(&i) {
                continue;
            }
            remap[i] = kept.len();
            kept.push(leaf);
        }
        for f in fields.iter_mut().flatten() {
            *f = remap[*f];
        }
        for (k, v, _) in map_pairs.iter_mut() {
            *k = remap[*k];
            *v = remap[*v];
        }
        Ok(ParquetReader {
            file,
            flavor,
            leaves: kept,
            fields,
            map_pairs,
            row_group: 0,
            batch_rows: 0,
            batch_pos: 0,
            row: 0,
            scratch: String::new(),
            done: false,
        })
    }

    /// The flavour the schema was read as.
    pub fn flavor(&self) -> ParquetFlavor {
        self.flavor
    }

    /// Rows in the file, from its footer.
    pub fn num_rows(&self) -> u64 {
        self.file.metadata().file_metadata().num_rows().max(0) as u64
    }

    /// Data rows read so far.
    pub fn rows_read(&self) -> u64 {
        self.row
    }

    /// Reads the next row into `item`, reusing its allocations. `Ok(false)` at the end.
    pub fn read_into(&mut self, item: &mut LineItem) -> Result<bool, CurError> {
        if self.done {
            return Ok(false);
        }
        let res = self.read_row(item);
        if !matches!(res, Ok(true)) {
            self.done = true;
        }
        res
    }

    fn next_batch(&mut self) -> Result<bool, CurError> {
        loop {
            if self.leaves.first().is_some_and(|l| l.reader.is_some()) {
                let mut rows = None;
                for leaf in self.leaves.iter_mut() {
                    let n = leaf
                        .read_batch()
                        .map_err(|e| pq_err(self.row + 1, Some(&leaf.name), e))?;
                    match rows {
                        None => rows = Some(n),
                        Some(r) if r != n => {
                            return Err(pq_err(
                                self.row + 1,
                                Some(&leaf.name),
                                "columns disagree on the number of rows",
                            ))
                        }
                        _ => {}
                    }
                }
                let rows = rows.unwrap_or(0);
                if rows > 0 {
                    self.batch_rows = rows;
                    self.batch_pos = 0;
                    return Ok(true);
                }
            }
            // Next row group.
            if self.row_group >= self.file.num_row_groups() {
                return Ok(false);
            }
            let rg = self
                .file
                .get_row_group(self.row_group)
                .map_err(|e| pq_err(self.row + 1, None, e))?;
            for leaf in self.leaves.iter_mut() {
                leaf.reader = Some(
                    rg.get_column_reader(leaf.col)
                        .map_err(|e| pq_err(self.row + 1, Some(&leaf.name), e))?,
                );
            }
            self.row_group += 1;
            if self.leaves.is_empty() {
                return Ok(false);
            }
        }
    }

    fn read_row(&mut self, item: &mut LineItem) -> Result<bool, CurError> {
        if self.batch_pos >= self.batch_rows && !self.next_batch()? {
            return Ok(false);
        }
        self.batch_pos += 1;
        self.row += 1;
        for leaf in self.leaves.iter_mut() {
            leaf.advance()
                .map_err(|m| pq_err(self.row, Some(&leaf.name), m))?;
        }
        item.source_format = self.flavor.source_format();
        let mut row = PqRow {
            leaves: &self.leaves,
            fields: &self.fields,
            map_pairs: &self.map_pairs,
            layout: self.flavor.layout(),
            row: self.row,
            scratch: &mut self.scratch,
        };
        match self.flavor {
            ParquetFlavor::Focus => fill_focus(&mut row, item)?,
            _ => fill_cur(&mut row, item)?,
        }
        Ok(true)
    }
}

impl Iterator for ParquetReader {
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

macro_rules! flavored_parquet {
    ($(#[$doc:meta])* $name:ident, $flavor:expr) => {
        $(#[$doc])*
        pub struct $name(ParquetReader);

        impl $name {
            /// Opens a spooled Parquet file.
            pub fn new(file: File) -> Result<Self, CurError> {
                ParquetReader::from_chunk_reader(file, Some($flavor)).map($name)
            }

            /// Opens Parquet bytes held in memory.
            pub fn from_bytes(bytes: impl Into<Bytes>) -> Result<Self, CurError> {
                ParquetReader::from_chunk_reader(bytes.into(), Some($flavor)).map($name)
            }

            /// Opens any parquet [`ChunkReader`].
            pub fn from_chunk_reader<C: ChunkReader + 'static>(reader: C) -> Result<Self, CurError> {
                ParquetReader::from_chunk_reader(reader, Some($flavor)).map($name)
            }

            /// Rows in the file, from its footer.
            pub fn num_rows(&self) -> u64 {
                self.0.num_rows()
            }

            /// Data rows read so far.
            pub fn rows_read(&self) -> u64 {
                self.0.rows_read()
            }

            /// Reads the next row into `item`, reusing its allocations. `Ok(false)` at the end.
            pub fn read_into(&mut self, item: &mut LineItem) -> Result<bool, CurError> {
                self.0.read_into(item)
            }
        }

        impl Iterator for $name {
            type Item = Result<LineItem, CurError>;
            fn next(&mut self) -> Option<Self::Item> {
                self.0.next()
            }
        }
    };
}

flavored_parquet!(
    /// Legacy CUR Parquet (`<report>/<report>/year=YYYY/month=M/*.snappy.parquet`).
    LegacyParquetReader,
    ParquetFlavor::Legacy
);
flavored_parquet!(
    /// CUR 2.0 Data Export Parquet.
    Cur2ParquetReader,
    ParquetFlavor::Cur2
);
flavored_parquet!(
    /// FOCUS 1.x Data Export Parquet.
    FocusParquetReader,
    ParquetFlavor::Focus
);
