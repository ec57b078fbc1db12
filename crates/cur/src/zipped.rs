//! ZIP-compressed legacy CUR CSV (`.csv.zip`, the legacy report's "ZIP" compression option).
//!
//! A ZIP archive's directory comes last, so the archive is read from a spooled file (as Parquet
//! is). AWS puts one CSV file in each archive; an archive with none or several is refused rather
//! than guessed at.

use std::io::{Read, Seek};

use crate::csv_reader::{Compression, CsvReader};
use crate::error::CurError;

/// The CSV reader of a [`ZippedCsv`]'s entry, which borrows the archive.
pub type ZipEntryReader<'a, R> = CsvReader<zip::read::ZipFile<'a, R>>;

/// A `.csv.zip` report file: the archive and the index of its one CSV entry.
pub struct ZippedCsv<R> {
    archive: zip::ZipArchive<R>,
    entry: usize,
}

impl<R: Read + Seek> ZippedCsv<R> {
    /// Opens the archive and finds its one file.
    pub fn open(file: R) -> Result<Self, CurError> {
        let archive = zip::ZipArchive::new(file).map_err(|e| {
            CurError::Zip(format!(
                "not a readable ZIP archive ({e}); AWS writes one CSV file per .csv.zip"
            ))
        })?;
        let files: Vec<usize> = (0..archive.len())
            .filter(|&i| {
                archive
                    .name_for_index(i)
                    .is_some_and(|n| n.is_ok_and(|n| !n.ends_with('/')))
            })
            .collect();
        match files[..] {
            [entry] => Ok(ZippedCsv { archive, entry }),
            _ => Err(CurError::Zip(format!(
                "the archive holds {} files; a report archive holds exactly one CSV file",
                files.len()
            ))),
        }
    }

    /// The entry's name inside the archive.
    pub fn entry_name(&self) -> String {
        match self.archive.name_for_index(self.entry) {
            Some(Ok(name)) => name.into_owned(),
            _ => String::new(),
        }
    }

    /// A CSV reader over the decompressed entry (flavour detected from its header).
    pub fn reader(&mut self) -> Result<ZipEntryReader<'_, R>, CurError> {
        let entry = self
            .archive
            .by_index(self.entry)
            .map_err(|e| CurError::Zip(format!("cannot read the archive's CSV file: {e}")))?;
        CsvReader::with_compression(entry, Compression::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;

    const CSV: &str = "bill/PayerAccountId,bill/BillingPeriodStartDate,lineItem/UsageAccountId,\
lineItem/LineItemType,lineItem/UsageStartDate,lineItem/UsageEndDate,lineItem/ProductCode,\
lineItem/UnblendedCost,resourceTags/user:Team\n\
111111111111,2024-03-01T00:00:00Z,222222222222,Usage,2024-03-01T00:00:00Z,2024-03-02T00:00:00Z,AmazonEC2,1.25,data\n\
111111111111,2024-03-01T00:00:00Z,222222222222,Tax,2024-03-01T00:00:00Z,2024-04-01T00:00:00Z,AmazonEC2,0.1,\n";

    fn archive(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, body) in entries {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(body.as_bytes()).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn the_one_csv_in_the_archive_is_read() {
        let bytes = archive(&[("costline-00001.csv", CSV)]);
        let mut z = ZippedCsv::open(Cursor::new(bytes)).unwrap();
        assert_eq!(z.entry_name(), "costline-00001.csv");
        let items: Vec<_> = z.reader().unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].unblended_cost.to_string(), "1.25");
        assert_eq!(items[0].tag("Team"), Some("data"));
        assert_eq!(items[1].line_item_type, "Tax");
    }

    #[test]
    fn an_empty_crowded_or_broken_archive_is_refused_with_what_is_wrong() {
        let err = |bytes: Vec<u8>| match ZippedCsv::open(Cursor::new(bytes)) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted"),
        };
        assert!(err(archive(&[])).contains("holds 0 files"));
        let two = err(archive(&[("a.csv", CSV), ("b.csv", CSV)]));
        assert!(
            two.contains("holds 2 files") && two.contains("exactly one"),
            "{two}"
        );
        let broken = err(b"PK\x03\x04 not really".to_vec());
        assert!(broken.contains("not a readable ZIP archive"), "{broken}");
        // A gzip file named .csv.zip is no ZIP either.
        assert!(err(vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0]).contains("not a readable ZIP"));
    }
}
