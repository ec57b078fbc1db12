//! The stored form of line items (docs/adr/0012-line-item-chunks.md).
//!
//! Line items are stored in chunks of about 10,000 (`cur_line_item_chunks`, migration 0014):
//! each chunk is a PostgreSQL binary `COPY` stream of the line items' rows
//! (<https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4>), header and trailer
//! included, compressed with zstd. [`CopyEncoder`] writes chunks while the report is parsed;
//! [`ChunkRows`] reads a decompressed chunk back, field by field, and
//! `COPY ... FROM STDIN (FORMAT binary)` of a decompressed chunk restores its rows in SQL.

use crate::{StoreError, StoreResult};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::fmt::Write as _;

/// The columns of a line item tuple in a chunk, in order (the columns of the line item table
/// before migration 0014, without workspace, integration and billing period).
pub const LINE_ITEM_COLUMNS: &str = "line_no, usage_start, usage_end,
    payer_account_id, usage_account_id, line_item_type, product_code, usage_type, operation, region,
    availability_zone, resource_id, usage_amount, pricing_unit, unblended_rate, unblended_cost,
    net_unblended_cost, amortized_cost, net_amortized_cost, public_on_demand_cost, currency, tags";

/// One line item to store, borrowed from the parser's item.
#[derive(Debug, Clone, Copy)]
pub struct NewLineItem<'a> {
    /// Usage start.
    pub usage_start: DateTime<Utc>,
    /// Usage end.
    pub usage_end: DateTime<Utc>,
    /// Payer account.
    pub payer_account_id: &'a str,
    /// Usage account.
    pub usage_account_id: &'a str,
    /// Line item type.
    pub line_item_type: &'a str,
    /// Product code (the `service` of the cost API).
    pub product_code: &'a str,
    /// Usage type.
    pub usage_type: &'a str,
    /// Operation.
    pub operation: &'a str,
    /// Region.
    pub region: &'a str,
    /// Availability zone.
    pub availability_zone: &'a str,
    /// Resource id.
    pub resource_id: &'a str,
    /// Usage amount.
    pub usage_amount: Decimal,
    /// Pricing unit.
    pub pricing_unit: &'a str,
    /// Unblended rate.
    pub unblended_rate: Option<Decimal>,
    /// Unblended cost.
    pub unblended_cost: Decimal,
    /// Net unblended cost.
    pub net_unblended_cost: Option<Decimal>,
    /// Amortized cost.
    pub amortized_cost: Decimal,
    /// Net amortized cost.
    pub net_amortized_cost: Option<Decimal>,
    /// Public on-demand cost.
    pub public_on_demand_cost: Option<Decimal>,
    /// Currency.
    pub currency: &'a str,
    /// User tags (key, value).
    pub tags: &'a [(String, String)],
}

/// Encodes line items into chunks ready for the staging table's `COPY`: each line item as a
/// tuple of PostgreSQL's binary COPY format, each chunk (what [`CopyEncoder::take`] seals) as one
/// row of `cur_line_item_chunks` holding the zstd-compressed tuples.
pub struct CopyEncoder {
    file_no: u32,
    /// Chunks sealed so far.
    chunks: u32,
    /// The unsealed line items, after the COPY header.
    buf: Vec<u8>,
    line_items: u32,
    usage_from: i64,
    usage_to: i64,
    json: String,
    zstd: zstd::bulk::Compressor<'static>,
}

/// Line item bytes at which a chunk is worth sealing: about 10,000 line items of a legacy CUR.
pub const CHUNK_BYTES: usize = 4 << 20;
/// zstd's level for chunks: its fastest positive level (measured in ADR 0012).
const ZSTD_LEVEL: i32 = 1;

/// A row of `cur_line_item_chunks` for its `COPY` ([`CHUNK_COLUMNS`]), and the line items in
/// it; empty (no tuple, no line item) when nothing was sealed.
#[derive(Debug, Default)]
pub struct SealedChunk {
    /// One binary COPY tuple (no header: `LineItemCopy` sends it).
    pub tuple: Vec<u8>,
    /// Line items in the chunk.
    pub line_items: u64,
}

/// The columns of `cur_line_item_chunks` a chunk's COPY carries (the staging table's defaults
/// fill in the workspace, integration and billing period).
pub const CHUNK_COLUMNS: &str = "chunk_no, line_items, usage_from, usage_to, copy_zstd";

impl CopyEncoder {
    /// An encoder for the line items of file number `file_no` of an assembly (their `line_no`
    /// is `file_no << 32 | row`, their chunks' `chunk_no` `file_no << 32 | chunk`).
    pub fn new(file_no: u32) -> CopyEncoder {
        let mut buf = Vec::with_capacity(CHUNK_BYTES + (1 << 16));
        buf.extend_from_slice(COPY_BINARY_HEADER);
        CopyEncoder {
            file_no,
            chunks: 0,
            buf,
            line_items: 0,
            usage_from: i64::MAX,
            usage_to: i64::MIN,
            json: String::new(),
            zstd: zstd::bulk::Compressor::new(ZSTD_LEVEL).expect("zstd accepts level 1"),
        }
    }

    /// Bytes of line items encoded and not yet sealed.
    pub fn len(&self) -> usize {
        self.buf.len() - COPY_BINARY_HEADER.len()
    }

    /// Whether no line item waits to be sealed.
    pub fn is_empty(&self) -> bool {
        self.line_items == 0
    }

    /// Seals the line items encoded since the last call into one chunk (compressing them) and
    /// returns it as a `cur_line_item_chunks` COPY tuple; empty when no line item waits.
    pub fn take(&mut self) -> SealedChunk {
        if self.is_empty() {
            return SealedChunk::default();
        }
        self.buf.extend_from_slice(COPY_BINARY_TRAILER);
        let compressed = self
            .zstd
            .compress(&self.buf)
            .expect("zstd compresses into a buffer it sizes itself");
        let chunk_no = ((self.file_no as i64) << 32) | self.chunks as i64;
        let mut tuple = Vec::with_capacity(compressed.len() + 64);
        tuple.extend_from_slice(&5i16.to_be_bytes());
        push_field(&mut tuple, &chunk_no.to_be_bytes());
        push_field(&mut tuple, &(self.line_items as i32).to_be_bytes());
        push_field(&mut tuple, &self.usage_from.to_be_bytes());
        push_field(&mut tuple, &self.usage_to.to_be_bytes());
        push_field(&mut tuple, &compressed);
        let line_items = self.line_items as u64;
        self.chunks += 1;
        self.buf.truncate(COPY_BINARY_HEADER.len());
        self.line_items = 0;
        self.usage_from = i64::MAX;
        self.usage_to = i64::MIN;
        SealedChunk { tuple, line_items }
    }

    /// Appends row `row` (from 1) of the file.
    pub fn push(&mut self, row: u32, item: &NewLineItem<'_>) {
        let line_no = ((self.file_no as i64) << 32) | row as i64;
        let start = item.usage_start.timestamp_micros() - PG_EPOCH_MICROS;
        self.usage_from = self.usage_from.min(start);
        self.usage_to = self.usage_to.max(start);
        self.line_items += 1;
        let b = &mut self.buf;
        b.extend_from_slice(&LINE_ITEM_FIELDS.to_be_bytes());
        push_field(b, &line_no.to_be_bytes());
        push_field(b, &start.to_be_bytes());
        push_field(
            b,
            &(item.usage_end.timestamp_micros() - PG_EPOCH_MICROS).to_be_bytes(),
        );
        for s in [
            item.payer_account_id,
            item.usage_account_id,
            item.line_item_type,
            item.product_code,
            item.usage_type,
            item.operation,
            item.region,
            item.availability_zone,
            item.resource_id,
        ] {
            push_text(b, s);
        }
        push_numeric(b, item.usage_amount);
        push_text(b, item.pricing_unit);
        push_opt_numeric(b, item.unblended_rate);
        push_numeric(b, item.unblended_cost);
        push_opt_numeric(b, item.net_unblended_cost);
        push_numeric(b, item.amortized_cost);
        push_opt_numeric(b, item.net_amortized_cost);
        push_opt_numeric(b, item.public_on_demand_cost);
        push_text(b, item.currency);
        self.json.clear();
        self.json.push('{');
        for (i, (k, v)) in item.tags.iter().enumerate() {
            if i > 0 {
                self.json.push(',');
            }
            json_string(&mut self.json, k);
            self.json.push(':');
            json_string(&mut self.json, v);
        }
        self.json.push('}');
        // `json`'s binary form is its text.
        push_field(b, self.json.as_bytes());
    }
}

/// Fields of a line item tuple ([`LINE_ITEM_COLUMNS`]).
const LINE_ITEM_FIELDS: i16 = 22;
/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
pub(crate) const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days from the Unix epoch to PostgreSQL's.
const PG_EPOCH_DAYS: i32 = 10_957;
/// The binary COPY header: signature, flags, header extension length.
pub(crate) const COPY_BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The binary COPY trailer: a tuple of -1 fields.
pub(crate) const COPY_BINARY_TRAILER: &[u8] = &[0xff, 0xff];

/// Decompresses a chunk's `copy_zstd` into its binary COPY stream.
pub fn decompress_chunk(copy_zstd: &[u8]) -> StoreResult<Vec<u8>> {
    zstd::stream::decode_all(copy_zstd)
        .map_err(|e| StoreError::Corrupt(format!("a line item chunk does not decompress: {e}")))
}

/// A line item column, in [`LINE_ITEM_COLUMNS`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Column {
    LineNo,
    UsageStart,
    UsageEnd,
    PayerAccountId,
    UsageAccountId,
    LineItemType,
    ProductCode,
    UsageType,
    Operation,
    Region,
    AvailabilityZone,
    ResourceId,
    UsageAmount,
    PricingUnit,
    UnblendedRate,
    UnblendedCost,
    NetUnblendedCost,
    AmortizedCost,
    NetAmortizedCost,
    PublicOnDemandCost,
    Currency,
    Tags,
}

/// The line items of a decompressed chunk, one [`ChunkRow`] each.
pub struct ChunkRows<'a> {
    rest: &'a [u8],
    /// The trailer was read, or an error returned.
    ended: bool,
}

impl<'a> ChunkRows<'a> {
    /// Reads a binary COPY stream of line items (a decompressed chunk).
    pub fn new(stream: &'a [u8]) -> StoreResult<ChunkRows<'a>> {
        match stream.strip_prefix(COPY_BINARY_HEADER) {
            Some(rest) => Ok(ChunkRows { rest, ended: false }),
            None => Err(corrupt("no binary COPY header")),
        }
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("a line item chunk is corrupt: {what}"))
}

impl<'a> Iterator for ChunkRows<'a> {
    type Item = StoreResult<ChunkRow<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        // A stream cut at a tuple boundary must not pass for a shorter chunk.
        let Some((count, rest)) = split_be::<2>(self.rest) else {
            return self.fail("the stream ends without its trailer");
        };
        let count = i16::from_be_bytes(count);
        if count == -1 {
            self.ended = true;
            return None;
        }
        if count != LINE_ITEM_FIELDS {
            return self.fail("a tuple without 22 fields");
        }
        let mut rest = rest;
        let mut fields: [Option<&'a [u8]>; LINE_ITEM_FIELDS as usize] = Default::default();
        for field in fields.iter_mut() {
            let Some((len, after)) = split_be::<4>(rest) else {
                return self.fail("a tuple cut short");
            };
            let len = i32::from_be_bytes(len);
            if len < 0 {
                rest = after;
                continue;
            }
            let Some((value, after)) = after.split_at_checked(len as usize) else {
                return self.fail("a field cut short");
            };
            *field = Some(value);
            rest = after;
        }
        self.rest = rest;
        Some(Ok(ChunkRow { fields }))
    }
}

impl ChunkRows<'_> {
    fn fail<T>(&mut self, what: &str) -> Option<StoreResult<T>> {
        self.ended = true;
        Some(Err(corrupt(what)))
    }
}

fn split_be<const N: usize>(b: &[u8]) -> Option<([u8; N], &[u8])> {
    let (head, rest) = b.split_first_chunk::<N>()?;
    Some((*head, rest))
}

/// One stored line item, its fields still in binary form.
#[derive(Debug, Clone, Copy)]
pub struct ChunkRow<'a> {
    fields: [Option<&'a [u8]>; LINE_ITEM_FIELDS as usize],
}

impl<'a> ChunkRow<'a> {
    fn field(&self, c: Column) -> Option<&'a [u8]> {
        self.fields[c as usize]
    }

    /// `line_no`.
    pub fn line_no(&self) -> StoreResult<i64> {
        fixed::<8>(self.field(Column::LineNo)).map(i64::from_be_bytes)
    }

    /// A timestamp column (`UsageStart` or `UsageEnd`).
    pub fn timestamp(&self, c: Column) -> StoreResult<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.unix_micros(c)?)
            .ok_or_else(|| corrupt("a timestamp out of range"))
    }

    /// A timestamp column as microseconds since the Unix epoch.
    pub fn unix_micros(&self, c: Column) -> StoreResult<i64> {
        let micros = i64::from_be_bytes(fixed::<8>(self.field(c))?);
        micros
            .checked_add(PG_EPOCH_MICROS)
            .ok_or_else(|| corrupt("a timestamp out of range"))
    }

    /// A text column's bytes, unchecked (`None` for NULL).
    pub fn bytes(&self, c: Column) -> Option<&'a [u8]> {
        self.field(c)
    }

    /// A text column (`Tags` gives the tags' JSON object).
    pub fn text(&self, c: Column) -> StoreResult<&'a str> {
        let bytes = self.field(c).ok_or_else(|| corrupt("a NULL text"))?;
        std::str::from_utf8(bytes).map_err(|_| corrupt("text that is not UTF-8"))
    }

    /// A numeric column; `None` for NULL.
    pub fn numeric(&self, c: Column) -> StoreResult<Option<Decimal>> {
        self.field(c).map(decode_numeric).transpose()
    }

    /// A numeric column as mantissa and scale; `None` for NULL.
    pub fn numeric_parts(&self, c: Column) -> StoreResult<Option<(i128, u32)>> {
        self.field(c).map(decode_numeric_parts).transpose()
    }
}

/// A stored line item, read back whole ([`ChunkRow::to_stored`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct StoredLineItem {
    pub line_no: i64,
    pub usage_start: DateTime<Utc>,
    pub usage_end: DateTime<Utc>,
    pub payer_account_id: String,
    pub usage_account_id: String,
    pub line_item_type: String,
    pub product_code: String,
    pub usage_type: String,
    pub operation: String,
    pub region: String,
    pub availability_zone: String,
    pub resource_id: String,
    pub usage_amount: Decimal,
    pub pricing_unit: String,
    pub unblended_rate: Option<Decimal>,
    pub unblended_cost: Decimal,
    pub net_unblended_cost: Option<Decimal>,
    pub amortized_cost: Decimal,
    pub net_amortized_cost: Option<Decimal>,
    pub public_on_demand_cost: Option<Decimal>,
    pub currency: String,
    /// The tags as a JSON object.
    pub tags: String,
}

impl ChunkRow<'_> {
    /// Every field, owned.
    pub fn to_stored(&self) -> StoreResult<StoredLineItem> {
        let text = |c| self.text(c).map(str::to_owned);
        let required = |c| {
            self.numeric(c)?
                .ok_or_else(|| corrupt("a NULL in a required numeric"))
        };
        Ok(StoredLineItem {
            line_no: self.line_no()?,
            usage_start: self.timestamp(Column::UsageStart)?,
            usage_end: self.timestamp(Column::UsageEnd)?,
            payer_account_id: text(Column::PayerAccountId)?,
            usage_account_id: text(Column::UsageAccountId)?,
            line_item_type: text(Column::LineItemType)?,
            product_code: text(Column::ProductCode)?,
            usage_type: text(Column::UsageType)?,
            operation: text(Column::Operation)?,
            region: text(Column::Region)?,
            availability_zone: text(Column::AvailabilityZone)?,
            resource_id: text(Column::ResourceId)?,
            usage_amount: required(Column::UsageAmount)?,
            pricing_unit: text(Column::PricingUnit)?,
            unblended_rate: self.numeric(Column::UnblendedRate)?,
            unblended_cost: required(Column::UnblendedCost)?,
            net_unblended_cost: self.numeric(Column::NetUnblendedCost)?,
            amortized_cost: required(Column::AmortizedCost)?,
            net_amortized_cost: self.numeric(Column::NetAmortizedCost)?,
            public_on_demand_cost: self.numeric(Column::PublicOnDemandCost)?,
            currency: text(Column::Currency)?,
            tags: text(Column::Tags)?,
        })
    }
}

fn fixed<const N: usize>(field: Option<&[u8]>) -> StoreResult<[u8; N]> {
    field
        .and_then(|b| <[u8; N]>::try_from(b).ok())
        .ok_or_else(|| corrupt("a fixed-size field of the wrong size"))
}

/// `numeric`'s binary form (as [`push_numeric_parts`] writes it) back to a decimal.
fn decode_numeric(b: &[u8]) -> StoreResult<Decimal> {
    let (m, scale) = decode_numeric_parts(b)?;
    Decimal::try_from_i128_with_scale(m, scale)
        .map_err(|_| corrupt("a numeric that is not a decimal"))
}

/// `numeric`'s binary form back to a mantissa and a scale (at most 28, a decimal's).
fn decode_numeric_parts(b: &[u8]) -> StoreResult<(i128, u32)> {
    const NUMERIC_NEG: u16 = 0x4000;
    let bad = || corrupt("a numeric that is not a decimal");
    let head = |i: usize| -> StoreResult<u16> {
        b.get(2 * i..2 * i + 2)
            .map(|s| u16::from_be_bytes([s[0], s[1]]))
            .ok_or_else(bad)
    };
    let ndigits = head(0)? as usize;
    let weight = head(1)? as i16 as i32;
    let sign = head(2)?;
    let scale = head(3)? as u32;
    if scale > 28 || b.len() != 8 + 2 * ndigits || (sign != 0 && sign != NUMERIC_NEG) {
        return Err(bad());
    }
    // The digits as one integer, then moved to the display scale: the value is
    // digits * 10000^(weight - ndigits + 1), and digits past the scale are zero padding.
    let mut m: i128 = 0;
    for i in 0..ndigits {
        let d = head(4 + i)? as i128;
        m = m
            .checked_mul(10_000)
            .and_then(|m| m.checked_add(d))
            .ok_or_else(bad)?;
    }
    let shift = 4 * (weight - ndigits as i32 + 1) + scale as i32;
    if ndigits > 0 {
        if shift >= 0 {
            m = 10i128
                .checked_pow(shift as u32)
                .and_then(|p| m.checked_mul(p))
                .ok_or_else(bad)?;
        } else {
            m /= 10i128.checked_pow((-shift) as u32).ok_or_else(bad)?;
        }
    }
    if sign == NUMERIC_NEG {
        m = -m;
    }
    Ok((m, scale))
}

#[inline]
pub(crate) fn push_field(b: &mut Vec<u8>, value: &[u8]) {
    b.extend_from_slice(&(value.len() as i32).to_be_bytes());
    b.extend_from_slice(value);
}

/// Text as it is; NUL, which PostgreSQL text cannot hold, is dropped.
#[inline]
pub(crate) fn push_text(b: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if !bytes.contains(&0) {
        return push_field(b, bytes);
    }
    let kept: Vec<u8> = bytes.iter().copied().filter(|&c| c != 0).collect();
    push_field(b, &kept);
}

fn push_opt_numeric(b: &mut Vec<u8>, v: Option<Decimal>) {
    match v {
        Some(d) => push_numeric(b, d),
        None => b.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

/// A decimal in `numeric`'s binary form ([`push_numeric_parts`]).
#[inline]
fn push_numeric(b: &mut Vec<u8>, d: Decimal) {
    let mantissa = d.mantissa();
    push_numeric_parts(b, mantissa < 0, mantissa.unsigned_abs(), d.scale());
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|c| c == b'"' || c == b'\\' || c < 0x20) {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => {}
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Days since PostgreSQL's epoch, `date`'s binary form.
pub(crate) fn pg_date(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("the Unix epoch")).num_days() as i32
        - PG_EPOCH_DAYS
}

/// `magnitude / 10^scale` (scale 0 to 28, a decimal's) in `numeric`'s binary form: digit count,
/// weight (of the first base-10000 digit), sign, display scale, then the base-10000 digits,
/// aligned on the decimal point. Every digit is kept, and the scale, so `1.50` stays `1.50`.
/// Decimals (96-bit mantissas) and rollup sums (up to `i128`) alike.
pub(crate) fn push_numeric_parts(b: &mut Vec<u8>, negative: bool, magnitude: u128, scale: u32) {
    const NUMERIC_NEG: u16 = 0x4000;
    // The fraction is padded to whole base-10000 digits (times 10^pad). Only a sum near
    // `i128::MAX` overflows that: its lowest digit (the last `4 - pad` decimal digits, times
    // 10^pad) is then split off first.
    let pad = (4 - scale % 4) % 4;
    let frac_groups = ((scale + pad) / 4) as i16;
    // Base-10000 digits, least significant first (39 decimal digits at most: 11 groups).
    let mut groups = [0u16; 11];
    let mut n = 0;
    let mut u = match magnitude.checked_mul(10u128.pow(pad)) {
        Some(padded) => padded,
        None => {
            let unit = 10u128.pow(4 - pad);
            groups[0] = ((magnitude % unit) * 10u128.pow(pad)) as u16;
            n = 1;
            magnitude / unit
        }
    };
    while u > u64::MAX as u128 {
        groups[n] = (u % 10_000) as u16;
        u /= 10_000;
        n += 1;
    }
    let mut small = u as u64;
    while small > 0 {
        groups[n] = (small % 10_000) as u16;
        small /= 10_000;
        n += 1;
    }
    // Trailing zero digits need not be sent (the display scale keeps them).
    let low = groups[..n].iter().take_while(|&&g| g == 0).count();
    let digits = n - low;
    let (weight, sign) = if digits == 0 {
        (0, 0)
    } else {
        (
            n as i16 - 1 - frac_groups,
            if negative { NUMERIC_NEG } else { 0 },
        )
    };
    b.extend_from_slice(&(8 + 2 * digits as i32).to_be_bytes());
    b.extend_from_slice(&(digits as i16).to_be_bytes());
    b.extend_from_slice(&weight.to_be_bytes());
    b.extend_from_slice(&sign.to_be_bytes());
    b.extend_from_slice(&(scale as u16).to_be_bytes());
    for g in groups[low..n].iter().rev() {
        b.extend_from_slice(&g.to_be_bytes());
    }
}

/// Drops a staging table that will not be swapped in (a failed ingest).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_text_drops_nul_and_json_escapes() {
        let mut b = Vec::new();
        push_text(&mut b, "a\tb\\c\nd\0f");
        assert_eq!(b, b"\0\0\0\x08a\tb\\c\ndf");
        let mut j = String::new();
        json_string(&mut j, "q\"uo\\te\u{1}");
        assert_eq!(j, "\"q\\\"uo\\\\te\\u0001\"");
    }

    fn numeric(s: &str) -> Vec<u8> {
        let mut b = Vec::new();
        push_numeric(&mut b, s.parse().unwrap());
        b
    }

    #[test]
    fn numeric_binary_form_aligns_base_10000_digits_on_the_point() {
        // length 12: ndigits 2, weight 0, positive, dscale 2; digits 1, 5000 (1.5000 -> "1.50").
        assert_eq!(
            numeric("1.50"),
            [
                &[0, 0, 0, 12][..],
                &[0, 2, 0, 0, 0, 0, 0, 2],
                &[0, 1, 0x13, 0x88]
            ]
            .concat()
        );
        // -0.05: one digit 500 at weight -1, negative, dscale 2.
        assert_eq!(
            numeric("-0.05"),
            [
                &[0, 0, 0, 10][..],
                &[0, 1, 0xff, 0xff, 0x40, 0, 0, 2],
                &[0x01, 0xf4]
            ]
            .concat()
        );
        // 20000: the trailing zero digit is left out, the weight says where 2 stands.
        assert_eq!(
            numeric("20000"),
            [&[0, 0, 0, 10][..], &[0, 1, 0, 1, 0, 0, 0, 0], &[0, 2]].concat()
        );
        // Beyond a decimal's range: 170141183460469231731.687303715884105727 (i128::MAX, scale 18).
        let mut big = Vec::new();
        push_numeric_parts(&mut big, false, i128::MAX as u128, 18);
        assert_eq!(&big[4..12], &[0, 11, 0, 5, 0, 0, 0, 18]);
        assert_eq!(&big[12..16], &[0, 1, 0x1b, 0x66]); // 1, 7014, ... 1731, 6873, ... 2700
                                                       // A scale that pads the fraction, on the largest magnitude: no overflow, last digit 7000.
        let mut padded = Vec::new();
        push_numeric_parts(&mut padded, true, i128::MAX as u128, 1);
        assert_eq!(&padded[4..12], &[0, 11, 0, 9, 0x40, 0, 0, 1]);
        assert_eq!(&padded[padded.len() - 2..], &[0x1b, 0x58]);
        // Zero keeps its scale and has no digits.
        assert_eq!(
            numeric("0.000"),
            [&[0, 0, 0, 8][..], &[0, 0, 0, 0, 0, 0, 0, 3]].concat()
        );
    }

    fn item<'a>(n: u32, tags: &'a [(String, String)]) -> NewLineItem<'a> {
        let start = DateTime::from_timestamp(1_700_000_000 + n as i64 * 3600, 0).unwrap();
        NewLineItem {
            usage_start: start,
            usage_end: start + chrono::Duration::hours(1),
            payer_account_id: "123456789012",
            usage_account_id: "210987654321",
            line_item_type: if n.is_multiple_of(2) {
                "Usage"
            } else {
                "Credit"
            },
            product_code: "AmazonEC2",
            usage_type: "USE1-BoxUsage:m5.large, \"quoted\"",
            operation: "RunInstances",
            region: "us-east-1",
            availability_zone: "",
            resource_id: "i-0\u{e9}t\u{e9}",
            usage_amount: Decimal::new(n as i64 * 125, 3),
            pricing_unit: "Hrs",
            unblended_rate: (!n.is_multiple_of(3)).then(|| Decimal::new(96, 3)),
            unblended_cost: Decimal::new(-(n as i64) * 1_000_001, 10),
            net_unblended_cost: None,
            amortized_cost: Decimal::new(n as i64, 0),
            net_amortized_cost: Some(Decimal::new(1, 28)),
            public_on_demand_cost: Some(Decimal::MAX),
            currency: "USD",
            tags,
        }
    }

    /// The chunk's fields from a sealed COPY tuple: (chunk_no, line_items, from, to, copy_zstd).
    fn sealed_fields(t: &[u8]) -> (i64, i32, i64, i64, Vec<u8>) {
        assert_eq!(&t[..2], &5i16.to_be_bytes());
        let mut rest = &t[2..];
        let mut fields = Vec::new();
        for _ in 0..5 {
            let len = i32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            fields.push(rest[4..4 + len].to_vec());
            rest = &rest[4 + len..];
        }
        assert!(rest.is_empty());
        let int8 = |b: &[u8]| i64::from_be_bytes(b.try_into().unwrap());
        (
            int8(&fields[0]),
            i32::from_be_bytes(fields[1].as_slice().try_into().unwrap()),
            int8(&fields[2]),
            int8(&fields[3]),
            fields[4].clone(),
        )
    }

    #[test]
    fn a_sealed_chunk_reads_back_every_line_item_exactly() {
        let tags = vec![
            ("Team".to_owned(), "caf\u{e9} \"ops\"".to_owned()),
            ("env".to_owned(), String::new()),
        ];
        let mut enc = CopyEncoder::new(3);
        let nothing = enc.take();
        assert!(
            nothing.tuple.is_empty() && nothing.line_items == 0,
            "nothing to seal yet"
        );
        let items: Vec<NewLineItem<'_>> = (1..=50).map(|n| item(n, &tags)).collect();
        for (n, it) in items.iter().enumerate() {
            enc.push(n as u32 + 1, it);
        }
        let sealed = enc.take();
        assert_eq!(sealed.line_items, 50);
        assert!(enc.is_empty());
        let (chunk_no, count, from, to, compressed) = sealed_fields(&sealed.tuple);
        assert_eq!(chunk_no, 3 << 32);
        assert_eq!(count, 50);
        let micros = |d: DateTime<Utc>| d.timestamp_micros() - PG_EPOCH_MICROS;
        assert_eq!(from, micros(items[0].usage_start));
        assert_eq!(to, micros(items[49].usage_start));

        let stream = decompress_chunk(&compressed).unwrap();
        let rows: Vec<StoredLineItem> = ChunkRows::new(&stream)
            .unwrap()
            .map(|r| r.unwrap().to_stored().unwrap())
            .collect();
        assert_eq!(rows.len(), 50);
        for (n, (it, row)) in items.iter().zip(&rows).enumerate() {
            assert_eq!(row.line_no, (3 << 32) | (n as i64 + 1));
            assert_eq!(row.usage_start, it.usage_start);
            assert_eq!(row.usage_end, it.usage_end);
            assert_eq!(row.line_item_type, it.line_item_type);
            assert_eq!(row.usage_type, it.usage_type);
            assert_eq!(row.availability_zone, "");
            assert_eq!(row.resource_id, it.resource_id);
            // Decimals come back with their scale: 0.125 stays 0.125, 1E-28 and MAX whole.
            assert_eq!(row.usage_amount.to_string(), it.usage_amount.to_string());
            assert_eq!(row.unblended_rate, it.unblended_rate);
            assert_eq!(
                row.unblended_cost.to_string(),
                it.unblended_cost.to_string()
            );
            assert_eq!(row.net_unblended_cost, None);
            assert_eq!(row.amortized_cost, it.amortized_cost);
            assert_eq!(row.net_amortized_cost, it.net_amortized_cost);
            assert_eq!(row.public_on_demand_cost, Some(Decimal::MAX));
            let parsed: serde_json::Value = serde_json::from_str(&row.tags).unwrap();
            assert_eq!(
                parsed,
                serde_json::json!({"Team": "caf\u{e9} \"ops\"", "env": ""})
            );
        }
        // The next chunk of the file is numbered after it.
        enc.push(51, &items[0]);
        assert_eq!(sealed_fields(&enc.take().tuple).0, (3 << 32) | 1);
    }

    #[test]
    fn numerics_decode_to_the_decimal_that_was_encoded() {
        for s in [
            "0",
            "0.000",
            "1.50",
            "-0.05",
            "20000",
            "123456789.0123456789",
            "-0.0000000001",
            "0.0000000000000000000000000001",
            "79228162514264337593543950335",
            "-7922816251426433759354395.0335",
            "10000.0001",
            "99999999",
        ] {
            let d: Decimal = s.parse().unwrap();
            let mut b = Vec::new();
            push_numeric(&mut b, d);
            let back = decode_numeric(&b[4..]).unwrap();
            assert_eq!(back.to_string(), d.to_string(), "{s}");
        }
    }

    #[test]
    fn damaged_chunks_are_errors_not_panics() {
        assert!(matches!(
            decompress_chunk(b"not zstd"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(ChunkRows::new(b"COPY").is_err());
        let tags = Vec::new();
        let mut enc = CopyEncoder::new(0);
        enc.push(1, &item(1, &tags));
        let (.., compressed) = sealed_fields(&enc.take().tuple);
        let stream = decompress_chunk(&compressed).unwrap();
        // Cut inside the tuple, in a field, and exactly at its end (the trailer missing).
        for cut in [
            COPY_BINARY_HEADER.len() + 1,
            stream.len() / 2,
            stream.len() - 3,
            stream.len() - COPY_BINARY_TRAILER.len(),
        ] {
            let rows: Vec<_> = ChunkRows::new(&stream[..cut]).unwrap().collect();
            assert!(
                matches!(rows.last(), Some(Err(StoreError::Corrupt(_)))),
                "cut at {cut}: {rows:?}"
            );
        }
        assert_eq!(ChunkRows::new(&stream).unwrap().count(), 1, "whole");
        assert!(
            decode_numeric(&[0, 1, 0, 0, 0, 0, 0, 2]).is_err(),
            "digit missing"
        );
        assert!(decode_numeric(&[0, 0, 0, 0, 0xc0, 0, 0, 0]).is_err(), "NaN");
    }
}
