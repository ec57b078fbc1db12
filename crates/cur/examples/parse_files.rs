//! Measures existing legacy CUR CSV gzip files on one core: flate2 alone, decompress + parse +
//! normalize, and parse + normalize of the same bytes already decompressed in memory.
//!
//! `cargo run --release -p costline-cur --example parse_files -- [--runs N] FILE.csv.gz...`
//! (e.g. the bench's files: `find target/bench-data -name '*.csv.gz'`).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::time::Instant;

use costline_cur::{Compression, LegacyCsvReader, LineItem};
use rust_decimal::Decimal;

fn best<F: FnMut() -> (u64, Decimal)>(runs: usize, mut f: F) -> (f64, u64, Decimal) {
    let mut best = f64::MAX;
    let mut out = (0, Decimal::ZERO);
    for _ in 0..runs {
        let t = Instant::now();
        out = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, out.0, out.1)
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 3;
    if let Some(i) = args.iter().position(|a| a == "--runs") {
        runs = args[i + 1].parse().expect("runs");
        args.drain(i..i + 2);
    }
    // `--mem-only`: just the in-memory parse, for `perf record`.
    let mem_only = args.iter().any(|a| a == "--mem-only");
    args.retain(|a| a != "--mem-only");
    let files = args;
    assert!(!files.is_empty(), "give one or more .csv.gz files");

    let gz_runs = if mem_only { 0 } else { runs };
    let (gunzip, mut raw_bytes, _) = best(gz_runs, || {
        let mut n = 0;
        for f in &files {
            let mut d = flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(
                256 * 1024,
                File::open(f).unwrap(),
            ));
            n += io::copy(&mut d, &mut io::sink()).unwrap();
        }
        (n, Decimal::ZERO)
    });
    let read_all = |r: &mut dyn FnMut(&mut LineItem) -> bool| {
        let mut item = LineItem::default();
        let (mut rows, mut total) = (0u64, Decimal::ZERO);
        while r(&mut item) {
            rows += 1;
            total += item.unblended_cost;
        }
        (rows, total)
    };
    let (parse, rows, total) = best(gz_runs, || {
        let (mut rows, mut total) = (0, Decimal::ZERO);
        for f in &files {
            let mut r = LegacyCsvReader::new(File::open(f).unwrap()).unwrap();
            let (n, t) = read_all(&mut |item| r.read_into(item).unwrap());
            rows += n;
            total += t;
        }
        (rows, total)
    });
    let raw: Vec<Vec<u8>> = files
        .iter()
        .map(|f| {
            let mut v = Vec::new();
            flate2::read::MultiGzDecoder::new(File::open(f).unwrap())
                .read_to_end(&mut v)
                .unwrap();
            v
        })
        .collect();
    let (mem, rows2, total2) = best(runs, || {
        let (mut rows, mut total) = (0, Decimal::ZERO);
        for b in &raw {
            let mut r = LegacyCsvReader::with_compression(b.as_slice(), Compression::None).unwrap();
            let (n, t) = read_all(&mut |item| r.read_into(item).unwrap());
            rows += n;
            total += t;
        }
        (rows, total)
    });
    if !mem_only {
        assert_eq!((rows, total), (rows2, total2));
    }
    raw_bytes = raw
        .iter()
        .map(|b| b.len() as u64)
        .sum::<u64>()
        .max(raw_bytes);
    let rows = rows2;
    let mb = raw_bytes as f64 / 1e6;
    let line = |what: &str, s: f64| {
        println!(
            "{what:<40} {s:>7.3} s {:>6.0} MB/s {:>9.0} rows/s  {:.2}x flate2  {:.3} us/row",
            mb / s,
            rows as f64 / s,
            gunzip / s,
            s / rows as f64 * 1e6
        )
    };
    println!("{rows} rows, {mb:.1} MB uncompressed, unblended total {total}");
    if !mem_only {
        line("flate2 alone", gunzip);
        line("decompress+parse+normalize", parse);
    }
    line("parse+normalize, decompressed input", mem);
}
