//! Scratch: where does the time go (csv tokenizing vs normalizing)?
use std::io::Read;
use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let mut raw = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(&path).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    let mb = raw.len() as f64 / 1e6;
    let t = Instant::now();
    let mut r = csv::ReaderBuilder::new()
        .buffer_capacity(256 * 1024)
        .from_reader(raw.as_slice());
    let mut rec = csv::ByteRecord::new();
    let mut n = 0;
    while r.read_byte_record(&mut rec).unwrap() {
        n += rec.len();
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "csv tokenize from memory: {s:.3}s {:.0} MB/s ({n} fields)",
        mb / s
    );
    let t = Instant::now();
    let mut r = costline_cur::LegacyCsvReader::with_compression(
        raw.as_slice(),
        costline_cur::Compression::None,
    )
    .unwrap();
    let mut item = costline_cur::LineItem::default();
    while r.read_into(&mut item).unwrap() {}
    let s = t.elapsed().as_secs_f64();
    println!("parse+normalize from memory: {s:.3}s {:.0} MB/s", mb / s);
}
