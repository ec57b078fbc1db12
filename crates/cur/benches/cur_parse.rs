//! CUR parsing benchmark (`make bench`, or `cargo bench -p costline-cur --bench cur_parse`).
//!
//! One generated month of legacy CUR (CSV gzip, 4 files, 50 accounts; 2,000,000 line items by
//! default), cached under `target/bench-data` by rows and seed, measured as:
//! - (4) the decompression limit: `pigz -dc` and flate2 (the decoder Costline uses) alone, at
//!   its best read size;
//! - (1) Costline's parse + normalize, one core, over the same files (the strict measure,
//!   decompression included), and over the same bytes already decompressed into memory (so
//!   the table shows the parse's own cost beside the decompression's);
//! - the floor under (1): the same reader splitting records into fields and normalizing
//!   nothing, with and without decompression;
//! - (3) DuckDB (1 thread, all cores) and polars (1 thread, all cores) computing unblended cost
//!   per day, account and service from the same files (`peers.py` beside this file).
//!
//! Prints a table with rows/s, uncompressed MB/s and ratios, and writes the figures to
//! `<data dir>/parse-results.json` for the end-to-end ingest benchmark to put beside its own.
//! Every row is the best of COSTLINE_BENCH_RUNS runs (default 2).
//! Sizes: COSTLINE_BENCH_CUR_ROWS (default 2000000), COSTLINE_BENCH_CUR_SEED (default 42);
//! COSTLINE_PYTHON is the interpreter with duckdb and polars (`make bench` sets it up).

use costline_cur::generate::{generate, GenFormat, GenerateOptions};
use costline_cur::{Compression, LegacyCsvReader, LineItem};
use costline_domain::BillingPeriod;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const FILES: usize = 4;
const ACCOUNTS: usize = 50;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The generated month: files, uncompressed size and expected totals, generated once per
/// (rows, seed) and reused by later runs.
struct Dataset {
    dir: PathBuf,
    files: Vec<PathBuf>,
    rows: u64,
    unblended: Decimal,
    groups: usize,
}

fn data_root() -> PathBuf {
    std::env::var_os("COSTLINE_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data")
        })
}

fn dataset(rows: usize, seed: u64) -> Dataset {
    let dir = data_root().join(format!("legacy-csv-gz-rows{rows}-seed{seed}-files{FILES}"));
    let meta_path = dir.join("expected.json");
    if !meta_path.exists() {
        let tmp = dir.with_extension("partial");
        std::fs::remove_dir_all(&tmp).ok();
        std::fs::create_dir_all(&tmp).expect("create the bench data directory");
        let started = Instant::now();
        let mut opts = GenerateOptions::new(
            seed,
            BillingPeriod::new(2024, 9).unwrap(),
            rows,
            GenFormat::LegacyCsvGzip,
        );
        opts.files = FILES;
        opts.accounts = ACCOUNTS;
        let report = generate(&opts, &tmp).expect("generate the report");
        let meta = json!({
            "rows": report.expected.rows,
            "unblended": report.expected.unblended.to_string(),
            "groups": report.expected.by_day_account_service.len(),
            "data_keys": report.data_keys,
            "manifest_keys": report.manifest_keys,
            "assembly_id": report.assembly_id,
            "bucket": opts.bucket,
            "prefix": opts.prefix,
            "report_name": opts.report_name,
        });
        std::fs::write(tmp.join("expected.json"), meta.to_string()).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        std::fs::rename(&tmp, &dir).expect("move the generated data in place");
        eprintln!(
            "generated {rows} legacy CSV line items in {:.1}s under {}",
            started.elapsed().as_secs_f64(),
            dir.display()
        );
    } else {
        eprintln!("reusing {}", dir.display());
    }
    let meta: Value = serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    let files = meta["data_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| dir.join(k.as_str().unwrap()))
        .collect();
    Dataset {
        dir,
        files,
        rows: meta["rows"].as_u64().unwrap(),
        unblended: meta["unblended"].as_str().unwrap().parse().unwrap(),
        // 0 when `costline dev gen-cur` (the ingest benchmark) wrote the data: not checked.
        groups: meta["groups"].as_u64().unwrap_or(0) as usize,
    }
}

/// One measured way of getting through the files.
struct Measure {
    name: String,
    seconds: f64,
    note: String,
}

fn best_of<F: FnMut() -> String>(runs: usize, mut f: F) -> (f64, String) {
    let mut best = f64::MAX;
    let mut note = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        note = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, note)
}

/// flate2 decompressing into a `read_size` buffer, the output thrown away. `io::copy`'s 8 KiB
/// buffer would make it a third slower than it can be; the reader itself asks for up to 1 MiB.
fn flate2_only(files: &[PathBuf], read_size: usize) -> u64 {
    let mut out = vec![0u8; read_size];
    let mut total = 0;
    for path in files {
        let mut d = flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(
            256 * 1024,
            File::open(path).unwrap(),
        ));
        loop {
            let n = d.read(&mut out).unwrap();
            if n == 0 {
                break;
            }
            total += n as u64;
        }
    }
    total
}

fn parse_normalize(files: &[PathBuf]) -> (u64, Decimal) {
    let mut item = LineItem::default();
    let (mut rows, mut total) = (0u64, Decimal::ZERO);
    for path in files {
        let mut r = LegacyCsvReader::new(File::open(path).unwrap()).unwrap();
        while r.read_into(&mut item).unwrap() {
            rows += 1;
            total += item.unblended_cost;
        }
    }
    (rows, total)
}

/// Records in one file, split into fields by Costline's reader and not normalized.
fn split_only<R: Read>(src: R, compression: Compression) -> u64 {
    let mut r = LegacyCsvReader::with_compression(src, compression).unwrap();
    let mut rows = 0;
    while r.split_next().unwrap() {
        rows += 1;
    }
    rows
}

/// The files decompressed into memory, for the parse-only measure.
fn decompressed(files: &[PathBuf]) -> Vec<Vec<u8>> {
    files
        .iter()
        .map(|path| {
            let mut raw = Vec::new();
            flate2::bufread::MultiGzDecoder::new(BufReader::new(File::open(path).unwrap()))
                .read_to_end(&mut raw)
                .unwrap();
            raw
        })
        .collect()
}

fn parse_normalize_in_memory(raw: &[Vec<u8>]) -> (u64, Decimal) {
    let mut item = LineItem::default();
    let (mut rows, mut total) = (0u64, Decimal::ZERO);
    for bytes in raw {
        let mut r = LegacyCsvReader::with_compression(bytes.as_slice(), Compression::None).unwrap();
        while r.read_into(&mut item).unwrap() {
            rows += 1;
            total += item.unblended_cost;
        }
    }
    (rows, total)
}

fn python() -> Option<PathBuf> {
    let p = std::env::var_os("COSTLINE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
        });
    p.exists().then_some(p)
}

fn peer(python: &Path, engine: &str, threads: &str, files: &[PathBuf]) -> Result<Value, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers.py");
    let out = Command::new(python)
        .arg(script)
        .args([engine, threads])
        .args(files)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that is not ours skips this benchmark.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !args.is_empty() && !args.iter().any(|a| "cur_parse".contains(a.as_str())) {
        return;
    }
    let rows: usize = env_or("COSTLINE_BENCH_CUR_ROWS", 2_000_000);
    let seed: u64 = env_or("COSTLINE_BENCH_CUR_SEED", 42);
    let runs: usize = env_or("COSTLINE_BENCH_RUNS", 2);
    let data = dataset(rows, seed);
    let gz_bytes: u64 = data.files.iter().map(|f| f.metadata().unwrap().len()).sum();
    let raw_bytes = flate2_only(&data.files, 1 << 20);
    eprintln!(
        "{} rows in {} files: {:.1} MB gzip, {:.1} MB uncompressed",
        data.rows,
        data.files.len(),
        gz_bytes as f64 / 1e6,
        raw_bytes as f64 / 1e6
    );

    let mut measures = Vec::new();
    // (4) the decompression limit.
    if Command::new("pigz").arg("--version").output().is_ok() {
        let (s, _) = best_of(runs, || {
            let status = Command::new("pigz")
                .arg("-dc")
                .args(&data.files)
                .stdout(std::process::Stdio::null())
                .status()
                .expect("run pigz");
            assert!(status.success());
            String::new()
        });
        measures.push(Measure {
            name: "pigz -dc (gzip limit)".into(),
            seconds: s,
            note: "decompress only".into(),
        });
    } else {
        eprintln!("pigz not on PATH: its row is left out (apt-get install pigz)");
    }
    // The limit is the decoder at its fastest: the best read size of a few.
    let (mut limit, mut limit_read) = (f64::MAX, 0);
    for read_size in [64 << 10, 256 << 10, 1 << 20] {
        let (s, _) = best_of(runs, || {
            assert_eq!(flate2_only(&data.files, read_size), raw_bytes);
            String::new()
        });
        if s < limit {
            (limit, limit_read) = (s, read_size);
        }
    }
    measures.push(Measure {
        name: "flate2 alone, 1 core".into(),
        seconds: limit,
        note: format!("decoder Costline uses, {} KiB reads", limit_read >> 10),
    });
    // (1) Costline's reader.
    let (s, _) = best_of(runs, || {
        let (n, total) = parse_normalize(&data.files);
        assert_eq!(n, data.rows);
        assert_eq!(
            total, data.unblended,
            "parser total differs from the generator's"
        );
        String::new()
    });
    measures.push(Measure {
        name: "costline parse+normalize, 1 core".into(),
        seconds: s,
        note: format!("total {} exact", data.unblended),
    });
    // The floor under (1): the same reader splitting every record into its fields and
    // normalizing nothing. What (1) takes beyond it is the normalizing.
    let (s, _) = best_of(runs, || {
        let n: u64 = data
            .files
            .iter()
            .map(|path| split_only(File::open(path).unwrap(), Compression::Auto))
            .sum();
        assert_eq!(n, data.rows);
        String::new()
    });
    measures.push(Measure {
        name: "costline split fields only, 1 core".into(),
        seconds: s,
        note: "floor under (1): nothing normalized".into(),
    });
    {
        let raw = decompressed(&data.files);
        let (s, _) = best_of(runs, || {
            let (n, total) = parse_normalize_in_memory(&raw);
            assert_eq!(n, data.rows);
            assert_eq!(total, data.unblended);
            String::new()
        });
        measures.push(Measure {
            name: "costline parse+normalize, decompressed input, 1 core".into(),
            seconds: s,
            note: "same bytes, already in memory".into(),
        });
        let (s, _) = best_of(runs, || {
            let n: u64 = raw
                .iter()
                .map(|bytes| split_only(bytes.as_slice(), Compression::None))
                .sum();
            assert_eq!(n, data.rows);
            String::new()
        });
        measures.push(Measure {
            name: "costline split fields only, decompressed input".into(),
            seconds: s,
            note: "same bytes, already in memory".into(),
        });
    }
    // (3) the peers.
    match python() {
        Some(py) => {
            for (engine, threads) in [
                ("duckdb", "1"),
                ("duckdb", "all"),
                ("polars", "1"),
                ("polars", "all"),
            ] {
                let mut best: Option<Value> = None;
                for _ in 0..runs {
                    match peer(&py, engine, threads, &data.files) {
                        Ok(v) => {
                            let better = best.as_ref().is_none_or(|b| {
                                v["seconds"].as_f64().unwrap() < b["seconds"].as_f64().unwrap()
                            });
                            if better {
                                best = Some(v);
                            }
                        }
                        Err(e) => {
                            eprintln!("{engine} ({threads} threads) failed: {e}");
                            break;
                        }
                    }
                }
                let Some(v) = best else { continue };
                let total = v["total"].as_str().unwrap_or_default().to_string();
                let exact = match total.parse::<Decimal>() {
                    Ok(t) if t == data.unblended => "exact".to_string(),
                    Ok(t) => format!("off by {}", t - data.unblended),
                    Err(_) => format!("{total} (float)"),
                };
                let groups = v["groups"].as_u64().unwrap_or(0) as usize;
                measures.push(Measure {
                    name: format!("{engine}, {} thread(s)", v["threads"]),
                    seconds: v["seconds"].as_f64().unwrap(),
                    note: format!(
                        "{groups} groups{}, total {exact}",
                        if data.groups == 0 || groups == data.groups {
                            ""
                        } else {
                            " (MISMATCH)"
                        }
                    ),
                });
            }
        }
        None => eprintln!(
            "no Python with duckdb/polars (COSTLINE_PYTHON or .venv): peers left out; run `make bench`"
        ),
    }

    print_table(&data, raw_bytes, gz_bytes, &measures);
    let results = json!({
        "rows": data.rows,
        "files": data.files.len(),
        "gzip_bytes": gz_bytes,
        "uncompressed_bytes": raw_bytes,
        "measures": measures.iter().map(|m| json!({"name": m.name, "seconds": m.seconds, "note": m.note})).collect::<Vec<_>>(),
    });
    std::fs::write(data.dir.join("parse-results.json"), results.to_string()).ok();
}

fn print_table(data: &Dataset, raw: u64, gz: u64, measures: &[Measure]) {
    let find = |prefix: &str| {
        measures
            .iter()
            .find(|m| m.name.starts_with(prefix))
            .map(|m| m.seconds)
    };
    let flate2 = find("flate2");
    let duck1 = find("duckdb, 1 ");
    println!();
    println!(
        "CUR benchmark: {} legacy CSV gzip line items, {} files, {:.0} MB gzip, {:.0} MB uncompressed",
        data.rows,
        data.files.len(),
        gz as f64 / 1e6,
        raw as f64 / 1e6
    );
    println!(
        "{:<52} {:>8} {:>12} {:>9} {:>10} {:>10}  note",
        "what", "seconds", "rows/s", "MB/s", "vs flate2", "vs duckdb1"
    );
    for m in measures {
        let ratio = |base: Option<f64>| {
            base.map(|b| format!("{:.2}x", b / m.seconds))
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "{:<52} {:>8.2} {:>12.0} {:>9.0} {:>10} {:>10}  {}",
            m.name,
            m.seconds,
            data.rows as f64 / m.seconds,
            raw as f64 / 1e6 / m.seconds,
            ratio(flate2),
            ratio(duck1),
            m.note
        );
    }
    println!("(ratios: the row's speed over flate2's / single-threaded DuckDB's; >1 is faster)");
}
