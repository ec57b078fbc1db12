//! Measures parse+normalize speed against plain gzip decompression on one core.
//!
//! `cargo run --release -p costline-cur --example parse_speed -- [rows] [dir]`

use std::fs::File;
use std::io::{self, BufReader};
use std::time::Instant;

use costline_cur::generate::{generate, GenFormat, GenerateOptions};
use costline_cur::{LegacyCsvReader, LineItem, ParquetReader};
use costline_domain::BillingPeriod;
use rust_decimal::Decimal;

fn main() {
    let mut args = std::env::args().skip(1);
    let rows: usize = args
        .next()
        .map(|a| a.parse().expect("rows"))
        .unwrap_or(1_000_000);
    let tmp;
    let dir = match args.next() {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            tmp = tempfile::tempdir().expect("tempdir");
            tmp.path().to_path_buf()
        }
    };
    let period = BillingPeriod::new(2024, 9).unwrap();
    let t = Instant::now();
    let report = generate(
        &GenerateOptions::new(1, period, rows, GenFormat::LegacyCsvGzip),
        &dir,
    )
    .unwrap();
    println!("generated {rows} legacy CSV rows in {:.1?}", t.elapsed());
    let path = dir.join(&report.data_keys[0]);
    let gz_size = std::fs::metadata(&path).unwrap().len();

    let mut best_gunzip = f64::MAX;
    let mut raw_size = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let mut d = flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(
            256 * 1024,
            File::open(&path).unwrap(),
        ));
        raw_size = io::copy(&mut d, &mut io::sink()).unwrap();
        best_gunzip = best_gunzip.min(t.elapsed().as_secs_f64());
    }
    let mut best_parse = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let mut r = LegacyCsvReader::new(File::open(&path).unwrap()).unwrap();
        let mut item = LineItem::default();
        let mut total = Decimal::ZERO;
        while r.read_into(&mut item).unwrap() {
            total += item.unblended_cost;
        }
        best_parse = best_parse.min(t.elapsed().as_secs_f64());
        assert_eq!(total, report.expected.unblended);
    }
    let mb = raw_size as f64 / 1e6;
    println!(
        "legacy CSV gzip: {:.1} MB compressed, {mb:.1} MB raw, {rows} rows",
        gz_size as f64 / 1e6
    );
    println!(
        "  gunzip only:         {best_gunzip:.3} s  {:.0} MB/s",
        mb / best_gunzip
    );
    println!(
        "  gunzip+parse+normalize: {best_parse:.3} s  {:.0} MB/s  {:.2} M rows/s  ({:.0}% of gunzip speed)",
        mb / best_parse,
        rows as f64 / best_parse / 1e6,
        100.0 * best_gunzip / best_parse
    );

    let t = Instant::now();
    let pq = generate(
        &GenerateOptions::new(1, period, rows, GenFormat::Cur2Parquet),
        &dir,
    )
    .unwrap();
    println!(
        "generated {rows} CUR 2.0 Parquet rows in {:.1?}",
        t.elapsed()
    );
    let t = Instant::now();
    let mut r = ParquetReader::new(File::open(dir.join(&pq.data_keys[0])).unwrap()).unwrap();
    let mut item = LineItem::default();
    let mut total = Decimal::ZERO;
    while r.read_into(&mut item).unwrap() {
        total += item.unblended_cost;
    }
    let s = t.elapsed().as_secs_f64();
    assert_eq!(total, pq.expected.unblended);
    println!(
        "  CUR 2.0 Parquet parse+normalize: {s:.3} s  {:.2} M rows/s",
        rows as f64 / s / 1e6
    );
}
