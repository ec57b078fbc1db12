//! Finding billing periods and their current data files in an S3 listing.
//!
//! Pure functions, two steps, so the async caller does the I/O in between:
//! 1. [`manifests_to_fetch`]: which manifest objects to download (one per period: the newest).
//! 2. [`discover`]: given the listing and those manifests' bytes, every period with its format,
//!    assembly id, the data files of its newest assembly only, and their total size.
//!
//! Layouts recognized under `<prefix>/<report_name>/`:
//! - legacy CUR, "create new report version": `<yyyymmdd-yyyymmdd>/<assemblyId>/<report>-N.csv.gz`,
//!   with `<yyyymmdd-yyyymmdd>/<report>-Manifest.json` naming the current assembly;
//! - legacy CUR, "overwrite": files directly in `<yyyymmdd-yyyymmdd>/`;
//! - legacy CUR with Athena (Parquet): `<report>/year=YYYY/month=M/` with its manifest;
//! - Data Exports (CUR 2.0, FOCUS), "overwrite existing export file": files directly in
//!   `data/BILLING_PERIOD=YYYY-MM/`, one `metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json`
//!   (`dataFiles` are `s3://` URIs), both overwritten by each execution;
//! - Data Exports, "create new export file": each execution's files in
//!   `data/BILLING_PERIOD=YYYY-MM/<timestamp>-<executionId>/` with its own manifest in
//!   `metadata/BILLING_PERIOD=YYYY-MM/<timestamp>-<executionId>/`, and the partition folder's
//!   manifest overwritten to name the newest execution (AWS: "always represents the most recent
//!   refresh"), so older executions stay in the bucket, named by no current manifest;
//! - periods whose data files have no manifest (historical backfills): files grouped by folder,
//!   the newest folder wins, and the assembly id is a hash of its keys, sizes and ETags.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Utc};
use costline_domain::BillingPeriod;
use sha2::{Digest, Sha256};

use crate::error::CurError;
use crate::manifest::{manifest_date, DataExportManifest, ExportTable, LegacyManifest};

/// One object of an S3 listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    /// Full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last-Modified.
    pub last_modified: DateTime<Utc>,
    /// ETag, when the listing has it.
    pub etag: Option<String>,
}

/// Where a report is delivered inside its bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLocation {
    /// The report's S3 prefix (may be empty; slashes around it are ignored).
    pub prefix: String,
    /// The legacy report name or the Data Export name.
    pub report_name: String,
}

impl ReportLocation {
    /// A location from a prefix and report name.
    pub fn new(prefix: impl Into<String>, report_name: impl Into<String>) -> Self {
        ReportLocation {
            prefix: prefix.into(),
            report_name: report_name.into(),
        }
    }

    /// `prefix/report_name/` (or `report_name/` without prefix): where the report is.
    pub fn base(&self) -> String {
        let p = self.prefix.trim_matches('/');
        let r = self.report_name.trim_matches('/');
        if p.is_empty() {
            format!("{r}/")
        } else {
            format!("{p}/{r}/")
        }
    }

    /// The key prefixes to list: [`base`], and the same with a doubled slash before the name.
    /// AWS joins the prefix and the name with a `/` as they were typed, so a prefix typed with a
    /// trailing slash (`cur/`) delivers under `cur//<name>/` (and `/` alone under `//<name>/`
    /// or `/<name>/`); Costline keeps the prefix trimmed, so it looks in both places.
    ///
    /// [`base`]: ReportLocation::base
    pub fn bases(&self) -> [String; 2] {
        let p = self.prefix.trim_matches('/');
        let r = self.report_name.trim_matches('/');
        [self.base(), format!("{p}//{r}/")]
    }
}

/// Which delivery layout a period was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReportLayout {
    /// Legacy CUR `<yyyymmdd-yyyymmdd>/` folders (versioned or overwrite).
    LegacyDateRange,
    /// Legacy CUR with Athena integration: `<report>/year=YYYY/month=M/`.
    LegacyAthena,
    /// Data Exports `data/BILLING_PERIOD=YYYY-MM/`.
    DataExport,
}

/// Which kind of report the files hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// Legacy CUR.
    LegacyCur,
    /// CUR 2.0.
    Cur2,
    /// FOCUS.
    Focus,
    /// A Data Export without manifest: tell CUR 2.0 from FOCUS by the file's header or schema
    /// (`CsvReader` / `ParquetReader` detect it).
    UnknownDataExport,
}

/// Container format of the data files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// CSV, gzip-compressed.
    CsvGzip,
    /// CSV, zip-compressed (legacy CUR option; one CSV per archive, read by [`crate::ZippedCsv`]).
    CsvZip,
    /// Plain CSV.
    Csv,
    /// Parquet.
    Parquet,
}

impl FileFormat {
    /// The format a key's extension names, if it is a data file.
    pub fn from_key(key: &str) -> Option<FileFormat> {
        let k = key.to_ascii_lowercase();
        if k.ends_with(".parquet") {
            Some(FileFormat::Parquet)
        } else if k.ends_with(".csv.gz") || k.ends_with(".csv.gzip") {
            Some(FileFormat::CsvGzip)
        } else if k.ends_with(".csv.zip") {
            Some(FileFormat::CsvZip)
        } else if k.ends_with(".csv") {
            Some(FileFormat::Csv)
        } else {
            None
        }
    }
}

/// A billing period found in the bucket, with the files of its newest assembly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredPeriod {
    /// The billing period.
    pub period: BillingPeriod,
    /// Where it was found.
    pub layout: ReportLayout,
    /// What kind of report.
    pub kind: ReportKind,
    /// Container format of the data files.
    pub format: FileFormat,
    /// Manifest `assemblyId` / `executionId`, or `content-<hash>` for manifest-less periods.
    pub assembly_id: String,
    /// True when the assembly id came from a manifest.
    pub from_manifest: bool,
    /// The manifest used, if any.
    pub manifest_key: Option<String>,
    /// Data files of the newest assembly, sorted.
    pub data_keys: Vec<String>,
    /// Files the manifest names that the listing lacks (a delivery in progress).
    pub missing_keys: Vec<String>,
    /// Sum of the data files' sizes.
    pub total_size: u64,
    /// Newest Last-Modified among the data files (or the manifest).
    pub last_modified: DateTime<Utc>,
}

/// A group of keys that belong to one period of one layout.
#[derive(Default)]
struct Group<'a> {
    manifests: Vec<&'a S3Object>,
    /// The manifest that names the current assembly whatever else the folder holds: legacy
    /// date-range's in the range folder, Data Exports' in the `BILLING_PERIOD=` folder.
    top_manifest: Option<&'a S3Object>,
    data: Vec<&'a S3Object>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct GroupKey {
    layout: ReportLayout,
    period: BillingPeriod,
}

fn is_manifest(name: &str) -> bool {
    name.ends_with("-Manifest.json")
}

fn parse_range_start(folder: &str) -> Option<BillingPeriod> {
    let (start, end) = folder.split_once('-')?;
    if start.len() != 8 || end.len() != 8 || !end.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let d = manifest_date(start)?;
    BillingPeriod::new(d.year(), d.month()).ok()
}

fn parse_billing_period_folder(folder: &str) -> Option<BillingPeriod> {
    folder.strip_prefix("BILLING_PERIOD=")?.parse().ok()
}

fn parse_year_month(year: &str, month: &str) -> Option<BillingPeriod> {
    let y = year.strip_prefix("year=")?.parse().ok()?;
    let m = month.strip_prefix("month=")?.parse().ok()?;
    BillingPeriod::new(y, m).ok()
}

fn group_listing<'a>(
    loc: &ReportLocation,
    listing: &'a [S3Object],
) -> BTreeMap<GroupKey, Group<'a>> {
    let bases = loc.bases();
    let report = loc.report_name.trim_matches('/');
    let mut groups: BTreeMap<GroupKey, Group<'a>> = BTreeMap::new();
    for obj in listing {
        let Some(rel) = bases.iter().find_map(|b| obj.key.strip_prefix(b.as_str())) else {
            continue;
        };
        let parts: Vec<&str> = rel.split('/').collect();
        let name = *parts.last().unwrap_or(&"");
        let data = FileFormat::from_key(name).is_some();
        let manifest = is_manifest(name);
        if !data && !manifest {
            continue;
        }
        let (key, top) = match parts.as_slice() {
            ["data", bp, .., _] if data => match parse_billing_period_folder(bp) {
                Some(p) => (
                    GroupKey {
                        layout: ReportLayout::DataExport,
                        period: p,
                    },
                    false,
                ),
                None => continue,
            },
            // `metadata/BILLING_PERIOD=X/<export>-Manifest.json` names the current execution;
            // "create new" also keeps one per execution folder below it.
            ["metadata", bp, execution @ .., _] if manifest => {
                match parse_billing_period_folder(bp) {
                    Some(p) => (
                        GroupKey {
                            layout: ReportLayout::DataExport,
                            period: p,
                        },
                        execution.is_empty(),
                    ),
                    None => continue,
                }
            }
            [r, y, m, _] if *r == report => match parse_year_month(y, m) {
                Some(p) => (
                    GroupKey {
                        layout: ReportLayout::LegacyAthena,
                        period: p,
                    },
                    false,
                ),
                None => continue,
            },
            [range, _] => match parse_range_start(range) {
                Some(p) => (
                    GroupKey {
                        layout: ReportLayout::LegacyDateRange,
                        period: p,
                    },
                    true,
                ),
                None => continue,
            },
            [range, _assembly, _] => match parse_range_start(range) {
                Some(p) => (
                    GroupKey {
                        layout: ReportLayout::LegacyDateRange,
                        period: p,
                    },
                    false,
                ),
                None => continue,
            },
            _ => continue,
        };
        let g = groups.entry(key).or_default();
        if manifest {
            if top {
                g.top_manifest = Some(obj);
            } else {
                g.manifests.push(obj);
            }
        } else {
            g.data.push(obj);
        }
    }
    groups
}

impl<'a> Group<'a> {
    /// The manifest that names the current assembly: the range folder's own manifest for
    /// legacy versioned reports and the partition folder's for Data Exports (AWS overwrites
    /// both with every delivery), otherwise the most recently written one. Going by the key
    /// first keeps the choice right where Last-Modified is not the delivery order (a bucket
    /// copied with `aws s3 sync` gets new times, in key order).
    fn current_manifest(&self) -> Option<&'a S3Object> {
        self.top_manifest.or_else(|| {
            self.manifests.iter().copied().max_by(|a, b| {
                a.last_modified
                    .cmp(&b.last_modified)
                    .then(a.key.cmp(&b.key))
            })
        })
    }
}

/// The manifests to download before calling [`discover`]: one per period, the newest.
pub fn manifests_to_fetch(loc: &ReportLocation, listing: &[S3Object]) -> Vec<String> {
    group_listing(loc, listing)
        .values()
        .filter_map(|g| g.current_manifest().map(|m| m.key.clone()))
        .collect()
}

/// A stable id for a manifest-less delivery: the hash of its files' keys, sizes and ETags.
pub fn content_assembly_id(files: &[&S3Object]) -> String {
    let mut sorted: Vec<&&S3Object> = files.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut h = Sha256::new();
    for f in sorted {
        h.update(f.key.as_bytes());
        h.update([0]);
        h.update(f.size.to_string().as_bytes());
        h.update([0]);
        h.update(f.etag.as_deref().unwrap_or("").trim_matches('"').as_bytes());
        h.update([b'\n']);
    }
    format!("content-{}", &hex::encode(h.finalize())[..32])
}

fn parent(key: &str) -> &str {
    key.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

/// Resolves every period in the listing. `manifests` maps manifest keys (from
/// [`manifests_to_fetch`]) to their bytes; a period whose manifest is not in the map is treated
/// as manifest-less. A manifest that does not parse is an error.
pub fn discover(
    loc: &ReportLocation,
    listing: &[S3Object],
    manifests: &HashMap<String, Vec<u8>>,
) -> Result<Vec<DiscoveredPeriod>, CurError> {
    let by_key: HashMap<&str, &S3Object> = listing.iter().map(|o| (o.key.as_str(), o)).collect();
    let mut out = Vec::new();
    for (gk, group) in group_listing(loc, listing) {
        let manifest = group
            .current_manifest()
            .and_then(|m| manifests.get(&m.key).map(|b| (m, b)));
        let found = match manifest {
            Some((m, bytes)) => Some(resolve_with_manifest(loc, gk, m, bytes, &by_key)?),
            None => resolve_without_manifest(gk, &group),
        };
        if let Some(p) = found {
            out.push(p);
        }
    }
    out.sort_by_key(|a| (a.period, a.layout));
    Ok(out)
}

fn resolve_with_manifest(
    loc: &ReportLocation,
    gk: GroupKey,
    manifest: &S3Object,
    bytes: &[u8],
    by_key: &HashMap<&str, &S3Object>,
) -> Result<DiscoveredPeriod, CurError> {
    let (assembly_id, keys, kind, period) = match gk.layout {
        ReportLayout::DataExport => {
            let m = DataExportManifest::parse(&manifest.key, bytes)?;
            let kind = match m.table() {
                ExportTable::Cur2 => ReportKind::Cur2,
                ExportTable::Focus => ReportKind::Focus,
            };
            (m.execution_id.clone(), m.data_keys(), kind, gk.period)
        }
        _ => {
            let m = LegacyManifest::parse(&manifest.key, bytes)?;
            let period = m.period().unwrap_or(gk.period);
            (
                m.assembly_id.clone(),
                m.report_keys.clone(),
                ReportKind::LegacyCur,
                period,
            )
        }
    };
    check_manifest_keys(loc, &manifest.key, &keys)?;
    let mut data_keys = Vec::new();
    let mut missing_keys = Vec::new();
    let mut total_size = 0;
    let mut last_modified = manifest.last_modified;
    for k in keys {
        match by_key.get(k.as_str()) {
            Some(o) => {
                total_size += o.size;
                last_modified = last_modified.max(o.last_modified);
                data_keys.push(k);
            }
            None => missing_keys.push(k),
        }
    }
    data_keys.sort();
    missing_keys.sort();
    let format = data_keys
        .iter()
        .chain(missing_keys.iter())
        .find_map(|k| FileFormat::from_key(k))
        .unwrap_or(FileFormat::CsvGzip);
    Ok(DiscoveredPeriod {
        period,
        layout: gk.layout,
        kind,
        format,
        assembly_id,
        from_manifest: true,
        manifest_key: Some(manifest.key.clone()),
        data_keys,
        missing_keys,
        total_size,
        last_modified,
    })
}

/// A manifest is the customer's file: it must not make Costline read objects outside the
/// report's own prefix (another report, or anything else in the bucket). A key outside it, or
/// one with `..` or `.` segments, fails discovery with the manifest named.
fn check_manifest_keys(
    loc: &ReportLocation,
    manifest_key: &str,
    keys: &[String],
) -> Result<(), CurError> {
    let bases = loc.bases();
    for k in keys {
        let inside = bases.iter().any(|b| k.starts_with(b.as_str()));
        let dotted = k.split('/').any(|seg| seg == ".." || seg == ".");
        if !inside || dotted {
            let cut: String = k.chars().take(200).collect();
            return Err(CurError::Manifest {
                key: manifest_key.to_owned(),
                message: format!(
                    "names the key {cut:?}, outside the report's prefix {:?}: Costline reads \
                     only the report's own files; check the report's S3 prefix",
                    bases[0]
                ),
            });
        }
    }
    Ok(())
}

fn resolve_without_manifest(gk: GroupKey, group: &Group<'_>) -> Option<DiscoveredPeriod> {
    // One folder is one delivery; the most recently written folder is the current one.
    let mut folders: BTreeMap<&str, Vec<&S3Object>> = BTreeMap::new();
    for o in &group.data {
        folders.entry(parent(&o.key)).or_default().push(o);
    }
    let (_, files) = folders.into_iter().max_by(|(fa, a), (fb, b)| {
        let ma = a.iter().map(|o| o.last_modified).max();
        let mb = b.iter().map(|o| o.last_modified).max();
        ma.cmp(&mb).then(fa.cmp(fb))
    })?;
    let mut data_keys: Vec<String> = files.iter().map(|o| o.key.clone()).collect();
    data_keys.sort();
    let kind = match gk.layout {
        ReportLayout::DataExport => ReportKind::UnknownDataExport,
        _ => ReportKind::LegacyCur,
    };
    Some(DiscoveredPeriod {
        period: gk.period,
        layout: gk.layout,
        kind,
        format: FileFormat::from_key(&data_keys[0]).unwrap_or(FileFormat::CsvGzip),
        assembly_id: content_assembly_id(&files),
        from_manifest: false,
        manifest_key: None,
        total_size: files.iter().map(|o| o.size).sum(),
        last_modified: files.iter().map(|o| o.last_modified).max()?,
        data_keys,
        missing_keys: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(key: &str, size: u64, minute: u32) -> S3Object {
        S3Object {
            key: key.to_owned(),
            size,
            last_modified: DateTime::from_timestamp(1_700_000_000 + minute as i64 * 60, 0).unwrap(),
            etag: Some(format!("\"{size}\"")),
        }
    }

    fn legacy_manifest(assembly: &str, keys: &[&str]) -> Vec<u8> {
        serde_json::json!({
            "assemblyId": assembly,
            "billingPeriod": {"start": "20231101T000000.000Z", "end": "20231201T000000.000Z"},
            "reportKeys": keys,
            "compression": "GZIP", "contentType": "text/csv"
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn legacy_versioned_picks_the_assembly_the_range_manifest_names() {
        let loc = ReportLocation::new("/cur/", "daily");
        let listing = vec![
            obj("cur/daily/20231101-20231201/aaa/daily-00001.csv.gz", 10, 1),
            obj("cur/daily/20231101-20231201/aaa/daily-Manifest.json", 1, 1),
            obj("cur/daily/20231101-20231201/bbb/daily-00001.csv.gz", 20, 5),
            obj("cur/daily/20231101-20231201/bbb/daily-00002.csv.gz", 30, 5),
            obj("cur/daily/20231101-20231201/bbb/daily-Manifest.json", 1, 5),
            obj("cur/daily/20231101-20231201/daily-Manifest.json", 1, 5),
            obj(
                "cur/daily/20231101-20231201/bbb/daily-RedshiftCommands.sql",
                1,
                5,
            ),
            obj("cur/other/20231101-20231201/daily-Manifest.json", 1, 5),
        ];
        let want = manifests_to_fetch(&loc, &listing);
        assert_eq!(
            want,
            vec!["cur/daily/20231101-20231201/daily-Manifest.json"]
        );
        let bytes = legacy_manifest(
            "bbb",
            &[
                "cur/daily/20231101-20231201/bbb/daily-00001.csv.gz",
                "cur/daily/20231101-20231201/bbb/daily-00002.csv.gz",
            ],
        );
        let manifests = HashMap::from([(want[0].clone(), bytes)]);
        let got = discover(&loc, &listing, &manifests).unwrap();
        assert_eq!(got.len(), 1);
        let p = &got[0];
        assert_eq!(p.period.to_string(), "2023-11");
        assert_eq!(p.assembly_id, "bbb");
        assert_eq!(p.total_size, 50);
        assert_eq!(p.data_keys.len(), 2);
        assert_eq!(p.format, FileFormat::CsvGzip);
        assert!(p.from_manifest && p.missing_keys.is_empty());
    }

    #[test]
    fn without_manifests_the_newest_folder_wins_and_is_hashed() {
        let loc = ReportLocation::new("", "daily");
        let listing = vec![
            obj("daily/20231001-20231101/aaa/daily-00001.csv.gz", 10, 1),
            obj("daily/20231001-20231101/bbb/daily-00001.csv.gz", 20, 9),
            obj("daily/20231101-20231201/daily-00001.csv.gz", 7, 3),
        ];
        assert!(manifests_to_fetch(&loc, &listing).is_empty());
        let got = discover(&loc, &listing, &HashMap::new()).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].data_keys,
            vec!["daily/20231001-20231101/bbb/daily-00001.csv.gz"]
        );
        assert!(got[0].assembly_id.starts_with("content-"));
        assert!(!got[0].from_manifest);
        assert_eq!(got[1].period.to_string(), "2023-11");
        // Stable for the same files; different when a size changes.
        let again = discover(&loc, &listing, &HashMap::new()).unwrap();
        assert_eq!(again[0].assembly_id, got[0].assembly_id);
        let mut changed = listing.clone();
        changed[1].size = 21;
        assert_ne!(
            discover(&loc, &changed, &HashMap::new()).unwrap()[0].assembly_id,
            got[0].assembly_id
        );
    }

    #[test]
    fn data_exports_and_athena_layouts() {
        let loc = ReportLocation::new("exports", "focus");
        let listing = vec![
            obj(
                "exports/focus/data/BILLING_PERIOD=2024-09/focus-00001.snappy.parquet",
                100,
                2,
            ),
            obj(
                "exports/focus/data/BILLING_PERIOD=2024-09/focus-00002.snappy.parquet",
                100,
                2,
            ),
            obj(
                "exports/focus/metadata/BILLING_PERIOD=2024-09/focus-Manifest.json",
                1,
                2,
            ),
            obj(
                "exports/focus/data/BILLING_PERIOD=2024-08/focus-00001.csv.gz",
                5,
                1,
            ),
            obj(
                "exports/focus/focus/year=2024/month=7/focus-00001.snappy.parquet",
                9,
                1,
            ),
            obj(
                "exports/focus/focus/year=2024/month=7/focus-Manifest.json",
                1,
                1,
            ),
            obj(
                "exports/focus/focus/year=2024/month=7/focus-create-table.sql",
                1,
                1,
            ),
        ];
        let want = manifests_to_fetch(&loc, &listing);
        assert_eq!(want.len(), 2);
        let de = serde_json::json!({
            "executionId": "exec-9",
            "queryStatement": "SELECT * FROM FOCUS_1_0_AWS",
            "dataFiles": [
                "s3://bkt/exports/focus/data/BILLING_PERIOD=2024-09/focus-00001.snappy.parquet",
                "s3://bkt/exports/focus/data/BILLING_PERIOD=2024-09/focus-00002.snappy.parquet",
                "s3://bkt/exports/focus/data/BILLING_PERIOD=2024-09/focus-00003.snappy.parquet"
            ]
        });
        let athena = serde_json::json!({
            "assemblyId": "asm-7",
            "billingPeriod": {"start": "20240701T000000.000Z", "end": "20240801T000000.000Z"},
            "reportKeys": ["exports/focus/focus/year=2024/month=7/focus-00001.snappy.parquet"],
            "compression": "Parquet", "contentType": "Parquet"
        });
        let manifests = HashMap::from([
            (
                "exports/focus/metadata/BILLING_PERIOD=2024-09/focus-Manifest.json".to_owned(),
                de.to_string().into_bytes(),
            ),
            (
                "exports/focus/focus/year=2024/month=7/focus-Manifest.json".to_owned(),
                athena.to_string().into_bytes(),
            ),
        ]);
        let got = discover(&loc, &listing, &manifests).unwrap();
        let periods: Vec<String> = got.iter().map(|p| p.period.to_string()).collect();
        assert_eq!(periods, vec!["2024-07", "2024-08", "2024-09"]);
        assert_eq!(got[0].layout, ReportLayout::LegacyAthena);
        assert_eq!(got[0].format, FileFormat::Parquet);
        assert_eq!(got[1].kind, ReportKind::UnknownDataExport);
        assert_eq!(got[2].kind, ReportKind::Focus);
        assert_eq!(got[2].assembly_id, "exec-9");
        assert_eq!(got[2].data_keys.len(), 2);
        assert_eq!(got[2].missing_keys.len(), 1);
        assert_eq!(got[2].total_size, 200);
    }

    /// One execution of a "create new export file" Data Export, in the layout AWS documents
    /// (docs.aws.amazon.com/cur/latest/userguide/dataexports-export-delivery.html):
    /// `data/BILLING_PERIOD=P/<timestamp>-<executionId>/<export>-0000N.snappy.parquet`.
    struct Execution {
        id: &'static str,
        folder: String,
        files: Vec<S3Object>,
        manifest: S3Object,
    }

    const EXPORTS: &str = "exports/cur2/";

    fn execution(
        period: &str,
        at: &str,
        id: &'static str,
        sizes: &[u64],
        minute: u32,
    ) -> Execution {
        let folder = format!("{at}-{id}");
        let files = sizes
            .iter()
            .enumerate()
            .map(|(n, size)| {
                let key = format!(
                    "{EXPORTS}data/BILLING_PERIOD={period}/{folder}/cur2-{:05}.snappy.parquet",
                    n + 1
                );
                obj(&key, *size, minute)
            })
            .collect();
        let manifest = obj(
            &format!("{EXPORTS}metadata/BILLING_PERIOD={period}/{folder}/cur2-Manifest.json"),
            1,
            minute,
        );
        Execution {
            id,
            folder,
            files,
            manifest,
        }
    }

    impl Execution {
        fn manifest_bytes(&self) -> Vec<u8> {
            let uris: Vec<String> = self
                .files
                .iter()
                .map(|f| format!("s3://bkt/{}", f.key))
                .collect();
            serde_json::json!({
                "executionId": self.id,
                "queryStatement": "SELECT * FROM COST_AND_USAGE_REPORT",
                "dataFiles": uris,
            })
            .to_string()
            .into_bytes()
        }

        fn keys(&self) -> Vec<String> {
            self.files.iter().map(|f| f.key.clone()).collect()
        }

        /// Its files and its own manifest, as listed.
        fn listed(&self) -> Vec<S3Object> {
            let mut l = self.files.clone();
            l.push(self.manifest.clone());
            l
        }
    }

    /// The partition folder's manifest, which AWS overwrites with each execution's.
    fn partition_manifest(period: &str, minute: u32) -> S3Object {
        obj(
            &format!("{EXPORTS}metadata/BILLING_PERIOD={period}/cur2-Manifest.json"),
            1,
            minute,
        )
    }

    /// Two periods, each with executions still in the bucket: August's older one and its
    /// newest; September's first, its second (same chunk names, fewer files), and a third whose
    /// data files are arriving before any of its manifests.
    fn create_new_bucket() -> (Vec<S3Object>, [Execution; 5]) {
        let aug_1 = execution(
            "2024-08",
            "2024-09-01T04:10:11.101Z",
            "3695a728-d559-40bd-ac30-ffc97b552489",
            &[40, 41],
            1,
        );
        let aug_2 = execution(
            "2024-08",
            "2024-09-09T04:12:13.202Z",
            "6f0a3b1e-0c4e-4d52-9d3b-2f7c1b0e5a11",
            &[50],
            3,
        );
        let sep_1 = execution(
            "2024-09",
            "2024-09-20T05:01:02.303Z",
            "b7d1c9e2-7a35-4e0b-8f61-1c2d3e4f5a6b",
            &[100, 101, 102],
            5,
        );
        let sep_2 = execution(
            "2024-09",
            "2024-09-21T05:03:04.404Z",
            "0c9e8d7f-6b5a-4c3d-9e2f-1a0b9c8d7e6f",
            &[200, 201],
            7,
        );
        let sep_3 = execution(
            "2024-09",
            "2024-09-22T05:05:06.505Z",
            "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b",
            &[300],
            9,
        );
        let mut listing: Vec<S3Object> = [&aug_1, &aug_2, &sep_1, &sep_2]
            .iter()
            .flat_map(|e| e.listed())
            .collect();
        listing.extend(sep_3.files.clone());
        listing.push(partition_manifest("2024-08", 3));
        listing.push(partition_manifest("2024-09", 7));
        (listing, [aug_1, aug_2, sep_1, sep_2, sep_3])
    }

    #[test]
    fn data_exports_create_new_read_only_the_execution_the_partition_manifest_names() {
        let loc = ReportLocation::new("exports", "cur2");
        let (listing, [_, aug_2, _, sep_2, _]) = create_new_bucket();
        let want = manifests_to_fetch(&loc, &listing);
        assert_eq!(
            want,
            vec![
                partition_manifest("2024-08", 0).key,
                partition_manifest("2024-09", 0).key
            ]
        );
        // What AWS wrote there: the newest complete execution's manifest.
        let manifests = HashMap::from([
            (want[0].clone(), aug_2.manifest_bytes()),
            (want[1].clone(), sep_2.manifest_bytes()),
        ]);
        let got = discover(&loc, &listing, &manifests).unwrap();
        assert_eq!(got.len(), 2, "{got:#?}");
        let expected = [("2024-08", &aug_2, &want[0]), ("2024-09", &sep_2, &want[1])];
        for (p, (period, newest, manifest)) in got.iter().zip(expected) {
            assert_eq!(p.period.to_string(), period);
            assert_eq!(p.layout, ReportLayout::DataExport);
            assert_eq!(p.kind, ReportKind::Cur2);
            assert_eq!(p.format, FileFormat::Parquet);
            assert_eq!(p.assembly_id, newest.id);
            assert!(p.from_manifest);
            assert_eq!(p.manifest_key.as_ref(), Some(manifest));
            assert_eq!(
                p.data_keys,
                newest.keys(),
                "{period}: exactly the newest's files"
            );
            assert!(p.missing_keys.is_empty(), "{period}");
            assert_eq!(
                p.total_size,
                newest.files.iter().map(|f| f.size).sum::<u64>(),
                "{period}"
            );
            let folder = format!("/{}/", newest.folder);
            assert!(p.data_keys.iter().all(|k| k.contains(&folder)), "{period}");
        }
    }

    #[test]
    fn data_exports_create_new_go_by_the_partition_manifest_not_last_modified() {
        let loc = ReportLocation::new("exports", "cur2");
        let (mut listing, [aug_1, aug_2, sep_1, sep_2, _]) = create_new_bucket();
        // A copied bucket: September's first execution's manifest now looks the newest.
        let copied = listing
            .iter_mut()
            .find(|o| o.key == sep_1.manifest.key)
            .unwrap();
        copied.last_modified = obj("", 0, 60).last_modified;
        let want = manifests_to_fetch(&loc, &listing);
        assert_eq!(want[1], partition_manifest("2024-09", 0).key);

        // Without the partition manifest (deleted, or not copied), the newest execution's own
        // manifest is the current one.
        listing.retain(|o| o.key != partition_manifest("2024-08", 0).key);
        let want = manifests_to_fetch(&loc, &listing);
        assert_eq!(want[0], aug_2.manifest.key);
        let manifests = HashMap::from([
            (aug_2.manifest.key.clone(), aug_2.manifest_bytes()),
            (aug_1.manifest.key.clone(), aug_1.manifest_bytes()),
            (want[1].clone(), sep_2.manifest_bytes()),
        ]);
        let got = discover(&loc, &listing, &manifests).unwrap();
        assert_eq!(got[0].assembly_id, aug_2.id);
        assert_eq!(got[0].data_keys, aug_2.keys());
        assert_eq!(got[1].data_keys, sep_2.keys());
    }

    #[test]
    fn data_exports_create_new_without_manifests_take_the_newest_execution_folder() {
        let loc = ReportLocation::new("exports", "cur2");
        let (listing, [_, aug_2, _, _, sep_3]) = create_new_bucket();
        let data_only: Vec<S3Object> = listing
            .into_iter()
            .filter(|o| !is_manifest(&o.key))
            .collect();
        assert!(manifests_to_fetch(&loc, &data_only).is_empty());
        let got = discover(&loc, &data_only, &HashMap::new()).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].data_keys, aug_2.keys());
        assert_eq!(got[1].data_keys, sep_3.keys());
        assert!(got
            .iter()
            .all(|p| p.kind == ReportKind::UnknownDataExport && !p.from_manifest));
    }

    /// A prefix typed as `cost/` in AWS: the export is delivered under `cost//<name>/` (a real
    /// key in public code: `cost//sample-data-export/data/BILLING_PERIOD=2024-05/...`), while
    /// Costline stores the prefix trimmed. A legacy report under the single-slash base beside it
    /// is still found.
    #[test]
    fn a_prefix_typed_with_a_trailing_slash_is_found_under_the_doubled_slash() {
        let loc = ReportLocation::new("cost", "cur2");
        assert_eq!(loc.bases(), ["cost/cur2/", "cost//cur2/"]);
        assert_eq!(ReportLocation::new("", "r").bases(), ["r/", "//r/"]);
        let data = "cost//cur2/data/BILLING_PERIOD=2024-05/cur2-00001.snappy.parquet";
        let manifest_key = "cost//cur2/metadata/BILLING_PERIOD=2024-05/cur2-Manifest.json";
        let listing = vec![
            obj(data, 70, 3),
            obj(manifest_key, 1, 3),
            obj(
                "cost/cur2/20240401-20240501/20240401-20240501/cur2-1.csv.gz",
                9,
                1,
            ),
            // Another export whose name only starts like this one's.
            obj(
                "cost//cur2-old/data/BILLING_PERIOD=2024-05/cur2-old-00001.snappy.parquet",
                5,
                4,
            ),
        ];
        assert_eq!(manifests_to_fetch(&loc, &listing), [manifest_key]);
        let manifest = serde_json::json!({
            "executionId": "exec-5",
            "queryStatement": "SELECT * FROM COST_AND_USAGE_REPORT",
            "dataFiles": [format!("s3://bkt/{data}")]
        });
        let manifests =
            HashMap::from([(manifest_key.to_owned(), manifest.to_string().into_bytes())]);
        let got = discover(&loc, &listing, &manifests).unwrap();
        assert_eq!(got.len(), 2, "{got:?}");
        let may = got
            .iter()
            .find(|p| p.layout == ReportLayout::DataExport)
            .unwrap();
        assert_eq!(may.period, BillingPeriod::new(2024, 5).unwrap());
        assert_eq!(may.assembly_id, "exec-5");
        assert_eq!(may.data_keys, [data]);
        assert_eq!(may.total_size, 70);
        let april = got
            .iter()
            .find(|p| p.layout == ReportLayout::LegacyDateRange)
            .unwrap();
        assert_eq!(april.period, BillingPeriod::new(2024, 4).unwrap());
    }

    #[test]
    fn a_broken_manifest_is_an_error() {
        let loc = ReportLocation::new("p", "r");
        let listing = vec![obj("p/r/20231101-20231201/r-Manifest.json", 1, 1)];
        let manifests = HashMap::from([(listing[0].key.clone(), b"{not json".to_vec())]);
        assert!(matches!(
            discover(&loc, &listing, &manifests),
            Err(CurError::Manifest { .. })
        ));
    }

    #[test]
    fn a_manifest_naming_keys_outside_its_prefix_is_refused_with_the_manifest_named() {
        let loc = ReportLocation::new("cur", "daily");
        let manifest_key = "cur/daily/20231101-20231201/daily-Manifest.json";
        let listing = vec![
            obj("cur/daily/20231101-20231201/aaa/daily-00001.csv.gz", 10, 1),
            obj(manifest_key, 1, 1),
            obj("secrets/payroll.csv.gz", 10, 1),
        ];
        let inside = "cur/daily/20231101-20231201/aaa/daily-00001.csv.gz";
        let ok = HashMap::from([(manifest_key.to_owned(), legacy_manifest("aaa", &[inside]))]);
        assert_eq!(
            discover(&loc, &listing, &ok).unwrap()[0].data_keys,
            [inside]
        );
        for hostile in [
            "secrets/payroll.csv.gz",
            "cur/other/20231101-20231201/aaa/other-00001.csv.gz",
            "cur/daily/../../secrets/payroll.csv.gz",
            "cur/dailyx/a.csv.gz",
        ] {
            let manifests = HashMap::from([(
                manifest_key.to_owned(),
                legacy_manifest("aaa", &[inside, hostile]),
            )]);
            match discover(&loc, &listing, &manifests) {
                Err(e @ CurError::Manifest { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(manifest_key), "{msg}");
                    assert!(msg.contains(hostile), "{msg}");
                    assert!(msg.contains("outside the report's prefix"), "{msg}");
                }
                other => panic!("{hostile}: {other:?}"),
            }
        }
    }
}
