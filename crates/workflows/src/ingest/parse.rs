//! Parsing one report file on a blocking thread: read line items, encode them into the
//! staging table's chunks, sum the file's rollups, and hand each sealed chunk to the file's
//! `COPY` through a bounded channel.
//!
//! The parser is synchronous (`costline_cur`'s readers take `Read` or a file), so it runs under
//! `spawn_blocking`; CSV comes straight from the S3 body through `SyncIoBridge`, Parquet and
//! ZIP-compressed CSV from a spooled temporary file. A chunk is sealed every `CHUNK_BYTES` of
//! encoded line items, and only then does the parser look at the stop flag and the job's
//! cancellation, so stopping costs at most one chunk of work. A closed channel (the `COPY` side gave up) stops it too.

use super::load::Counters;
use costline_cur::{
    Compression, CsvReader, CurError, LineItem, ParquetReader, ZipEntryReader, ZippedCsv,
};
use costline_store::line_items::{CopyEncoder, NewLineItem, SealedChunk, CHUNK_BYTES};
use costline_store::rollups::RollupBuilder;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A report file to parse: a byte stream of CSV (compressed as its key says), or Parquet or a
/// `.csv.zip` archive spooled to a file (they need random access).
pub(super) enum Source {
    Csv(Box<dyn Read + Send>),
    Parquet(std::fs::File),
    Zip(std::fs::File),
}

/// Counts the compressed bytes read from S3.
pub(super) struct Counting<R> {
    pub(super) inner: R,
    pub(super) n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Why parsing a file ended early.
pub(super) enum ParseError {
    Cur(CurError),
    Stopped,
}

impl From<CurError> for ParseError {
    fn from(e: CurError) -> Self {
        ParseError::Cur(e)
    }
}

/// The reader of any kind of file (a ZIP entry's borrows its archive).
enum AnyReader<'z> {
    Csv(Box<CsvReader<Box<dyn Read + Send>>>),
    Parquet(Box<ParquetReader>),
    Zip(Box<ZipEntryReader<'z, std::fs::File>>),
}

impl AnyReader<'_> {
    fn read_into(&mut self, item: &mut LineItem) -> Result<bool, CurError> {
        match self {
            AnyReader::Csv(r) => r.read_into(item),
            AnyReader::Parquet(r) => r.read_into(item),
            AnyReader::Zip(r) => r.read_into(item),
        }
    }
}

/// Runs on a blocking thread: parse, encode, sum the rollups, hand chunks to the COPY. Returns
/// the rows read and the file's rollups.
#[allow(clippy::too_many_arguments)]
pub(super) fn parse(
    source: Source,
    key: &str,
    mut enc: CopyEncoder,
    mut rollups: RollupBuilder,
    tx: mpsc::Sender<SealedChunk>,
    stop: &AtomicBool,
    cancel: &CancellationToken,
    counters: &Counters,
) -> Result<(u64, RollupBuilder), ParseError> {
    let mut archive;
    let mut reader = match source {
        Source::Csv(r) => AnyReader::Csv(Box::new(CsvReader::with_compression(
            r,
            Compression::from_file_name(key),
        )?)),
        Source::Parquet(f) => AnyReader::Parquet(Box::new(ParquetReader::new(f)?)),
        Source::Zip(f) => {
            archive = ZippedCsv::open(f)?;
            AnyReader::Zip(Box::new(archive.reader()?))
        }
    };
    let mut item = LineItem::default();
    let mut rows: u64 = 0;
    let mut pending_rows = 0;
    while reader.read_into(&mut item)? {
        rows += 1;
        let new = new_line_item(&item);
        enc.push(rows as u32, &new);
        rollups.add(&new);
        pending_rows += 1;
        if enc.len() >= CHUNK_BYTES {
            if stop.load(Ordering::Relaxed) || cancel.is_cancelled() {
                return Err(ParseError::Stopped);
            }
            counters.rows.fetch_add(pending_rows, Ordering::Relaxed);
            pending_rows = 0;
            if tx.blocking_send(enc.take()).is_err() {
                return Err(ParseError::Stopped);
            }
        }
    }
    counters.rows.fetch_add(pending_rows, Ordering::Relaxed);
    if !enc.is_empty() && tx.blocking_send(enc.take()).is_err() {
        return Err(ParseError::Stopped);
    }
    Ok((rows, rollups))
}

/// The stored form of a parsed line item (borrowed from it).
pub fn new_line_item(i: &LineItem) -> NewLineItem<'_> {
    NewLineItem {
        usage_start: i.usage_start,
        usage_end: i.usage_end,
        payer_account_id: &i.payer_account_id,
        usage_account_id: &i.usage_account_id,
        line_item_type: &i.line_item_type,
        product_code: &i.product_code,
        usage_type: &i.usage_type,
        operation: &i.operation,
        region: &i.region,
        availability_zone: &i.availability_zone,
        resource_id: &i.resource_id,
        usage_amount: i.usage_amount,
        pricing_unit: &i.pricing_unit,
        unblended_rate: i.unblended_rate,
        unblended_cost: i.unblended_cost,
        net_unblended_cost: i.net_unblended_cost,
        amortized_cost: i.amortized_cost,
        net_amortized_cost: i.net_amortized_cost,
        public_on_demand_cost: i.public_on_demand_cost,
        currency: &i.currency,
        tags: &i.tags,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const HEADER: &str = "bill/PayerAccountId,bill/BillingPeriodStartDate,lineItem/UsageAccountId,\
lineItem/LineItemType,lineItem/UsageStartDate,lineItem/UsageEndDate,lineItem/ProductCode,\
lineItem/UnblendedCost,resourceTags/user:Team";

    fn csv(rows: usize) -> String {
        let mut s = format!("{HEADER}\n");
        for i in 0..rows {
            s.push_str(&format!(
                "111111111111,2024-03-01T00:00:00Z,2222222222{:02},Usage,2024-03-0{}T00:00:00Z,\
                 2024-03-0{}T01:00:00Z,AmazonEC2,0.{i:04},team-{}\n",
                i % 7,
                1 + i % 5,
                1 + i % 5,
                i % 3
            ));
        }
        s
    }

    struct Run {
        result: Result<(u64, RollupBuilder), ParseError>,
        chunks: Vec<SealedChunk>,
        rows_counted: u64,
    }

    /// Parses `text` as the file `key`, as the ingest does: with the COPY side receiving or
    /// gone, the stop flag set or not, the job cancelled or not.
    fn run(text: String, key: &str, receive: bool, stop: bool, cancel: bool) -> Run {
        let (tx, rx) = mpsc::channel(1024);
        let mut rx = receive.then_some(rx);
        let token = CancellationToken::new();
        if cancel {
            token.cancel();
        }
        let counters = Counters::default();
        let result = parse(
            Source::Csv(Box::new(Cursor::new(text.into_bytes()))),
            key,
            CopyEncoder::new(3),
            RollupBuilder::new(&["Team".to_owned()], 1000),
            tx,
            &AtomicBool::new(stop),
            &token,
            &counters,
        );
        let mut chunks = Vec::new();
        while let Some(chunk) = rx.as_mut().and_then(|rx| rx.try_recv().ok()) {
            chunks.push(chunk);
        }
        Run {
            result,
            chunks,
            rows_counted: counters.rows.load(Ordering::Relaxed),
        }
    }

    #[test]
    fn every_row_is_encoded_counted_and_summed() {
        let done = run(csv(40), "cur/r/a/r-1.csv", true, false, false);
        let Ok((rows, rollups)) = done.result else {
            panic!("parses")
        };
        assert_eq!(rows, 40);
        assert_eq!(done.rows_counted, 40);
        let sent: u64 = done.chunks.iter().map(|c| c.line_items).sum();
        assert_eq!(
            (done.chunks.len(), sent),
            (1, 40),
            "one small chunk at the end"
        );
        // Daily groups are (account, day) = (i % 7, i % 5): 35 of them. Tag groups add the Team
        // value, i % 3, which sets each of the 40 rows apart.
        assert!(!rollups.overflowed());
        assert_eq!(rollups.groups(), 35 + 40);
    }

    #[test]
    fn full_chunks_go_out_while_parsing_and_a_stop_ends_it_there() {
        let rows = 30_000;
        let done = run(csv(rows), "cur/r/a/r-1.csv", true, false, false);
        assert!(done.chunks.len() > 1, "{} chunks", done.chunks.len());
        let sent: u64 = done.chunks.iter().map(|c| c.line_items).sum();
        assert_eq!(sent, rows as u64);

        for (stop, cancel) in [(true, false), (false, true)] {
            let stopped = run(csv(rows), "cur/r/a/r-1.csv", true, stop, cancel);
            assert!(matches!(stopped.result, Err(ParseError::Stopped)));
            assert!(stopped.chunks.is_empty(), "nothing sent once stopped");
            assert_eq!(stopped.rows_counted, 0);
        }
    }

    #[test]
    fn a_closed_copy_stops_the_parser() {
        let done = run(csv(3), "cur/r/a/r-1.csv", false, false, false);
        assert!(matches!(done.result, Err(ParseError::Stopped)));
    }

    #[test]
    fn a_file_without_the_required_columns_is_a_report_error() {
        let done = run(
            "bill/PayerAccountId,lineItem/ProductCode\n1,AmazonEC2\n".into(),
            "cur/r/a/r-1.csv",
            true,
            false,
            false,
        );
        match done.result {
            Err(ParseError::Cur(CurError::MissingColumns { columns, .. })) => {
                assert!(
                    columns.contains(&"lineItem/UnblendedCost".to_owned()),
                    "{columns:?}"
                )
            }
            Err(ParseError::Cur(e)) => panic!("{e}"),
            _ => panic!("must fail"),
        }
        // The key's suffix decides the compression: plain CSV is not gzip.
        let done = run(csv(1), "cur/r/a/r-1.csv.gz", true, false, false);
        assert!(matches!(done.result, Err(ParseError::Cur(_))));
    }

    #[test]
    fn counting_counts_every_byte_read() {
        let n = Arc::new(AtomicU64::new(0));
        let mut reader = Counting {
            inner: Cursor::new(vec![7u8; 10_000]),
            n: n.clone(),
        };
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!((out.len(), n.load(Ordering::Relaxed)), (10_000, 10_000));
    }

    #[test]
    fn the_stored_item_borrows_every_field_of_the_parsed_one() {
        let mut item = LineItem {
            payer_account_id: "111111111111".into(),
            usage_account_id: "222222222222".into(),
            line_item_type: "SavingsPlanCoveredUsage".into(),
            product_code: "AmazonEC2".into(),
            usage_type: "BoxUsage:m5.large".into(),
            operation: "RunInstances".into(),
            region: "eu-west-1".into(),
            availability_zone: "eu-west-1a".into(),
            resource_id: "i-0abc".into(),
            pricing_unit: "Hrs".into(),
            currency: "EUR".into(),
            tags: vec![("Team".into(), "web".into())],
            ..LineItem::default()
        };
        item.usage_amount = "2".parse().unwrap();
        item.unblended_rate = Some("0.096".parse().unwrap());
        item.unblended_cost = "0.192".parse().unwrap();
        item.net_unblended_cost = Some("0.18".parse().unwrap());
        item.amortized_cost = "0.1".parse().unwrap();
        item.net_amortized_cost = Some("0.09".parse().unwrap());
        item.public_on_demand_cost = Some("0.2".parse().unwrap());
        let new = new_line_item(&item);
        assert_eq!(
            (new.usage_start, new.usage_end),
            (item.usage_start, item.usage_end)
        );
        assert_eq!(
            [
                new.payer_account_id,
                new.usage_account_id,
                new.line_item_type,
                new.product_code,
                new.usage_type,
                new.operation,
                new.region,
                new.availability_zone,
                new.resource_id,
                new.pricing_unit,
                new.currency,
            ],
            [
                "111111111111",
                "222222222222",
                "SavingsPlanCoveredUsage",
                "AmazonEC2",
                "BoxUsage:m5.large",
                "RunInstances",
                "eu-west-1",
                "eu-west-1a",
                "i-0abc",
                "Hrs",
                "EUR",
            ]
        );
        assert_eq!(
            (new.usage_amount, new.unblended_cost, new.amortized_cost),
            (item.usage_amount, item.unblended_cost, item.amortized_cost)
        );
        assert_eq!(
            [
                new.unblended_rate,
                new.net_unblended_cost,
                new.net_amortized_cost,
                new.public_on_demand_cost
            ],
            [
                item.unblended_rate,
                item.net_unblended_cost,
                item.net_amortized_cost,
                item.public_on_demand_cost
            ]
        );
        assert!(std::ptr::eq(new.tags, item.tags.as_slice()));
    }
}
