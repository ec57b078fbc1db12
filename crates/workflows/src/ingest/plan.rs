//! The `ingest_period` job's payload: what `poll_cur` found for the period (bucket, assembly,
//! format and data files, and the files its manifest names that the bucket lacks).
//!
//! The payload is stored in the queue as JSON, so jobs queued by an older worker must still
//! decode: new fields have defaults. A job without a plan (a support backfill) discovers the
//! period again from the bucket. The report kind and file format are kept as the names the
//! stored period's `format` is made of (`legacy_cur_csv_gzip`, `cur2_parquet`, ...).

use costline_cur::discovery::{DiscoveredPeriod, FileFormat, ReportKind};
use serde::{Deserialize, Serialize};

/// The `ingest_period` payload. Without a plan (a support backfill), the period is discovered
/// again from the bucket.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IngestPayload {
    /// What `poll_cur` found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<IngestPlan>,
}

/// One data file to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedFile {
    /// S3 key.
    pub key: String,
    /// Size from the listing.
    pub size: u64,
}

/// The newest assembly of a period, as discovered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestPlan {
    /// Bucket.
    pub bucket: String,
    /// Assembly (or execution) id.
    pub assembly_id: String,
    /// `legacy_cur`, `cur2`, `focus` or `data_export`.
    pub report_kind: String,
    /// `csv_gzip`, `csv`, `csv_zip` or `parquet`.
    pub file_format: String,
    /// Data files, in manifest order.
    pub files: Vec<PlannedFile>,
    /// Files the manifest names that the bucket lacks.
    #[serde(default)]
    pub missing: Vec<String>,
}

impl IngestPlan {
    /// The plan for a discovered period.
    pub fn new(bucket: &str, p: &DiscoveredPeriod, files: Vec<PlannedFile>) -> IngestPlan {
        IngestPlan {
            bucket: bucket.to_owned(),
            assembly_id: p.assembly_id.clone(),
            report_kind: match p.kind {
                ReportKind::LegacyCur => "legacy_cur",
                ReportKind::Cur2 => "cur2",
                ReportKind::Focus => "focus",
                ReportKind::UnknownDataExport => "data_export",
            }
            .to_owned(),
            file_format: match p.format {
                FileFormat::CsvGzip => "csv_gzip",
                FileFormat::CsvZip => "csv_zip",
                FileFormat::Csv => "csv",
                FileFormat::Parquet => "parquet",
            }
            .to_owned(),
            files,
            missing: p.missing_keys.clone(),
        }
    }

    /// The stored period's `format`: report kind and file format (`legacy_cur_csv_gzip`).
    pub(super) fn format_name(&self) -> String {
        format!("{}_{}", self.report_kind, self.file_format)
    }

    /// The data files' total size, from the listing.
    pub(super) fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use costline_cur::discovery::ReportLayout;

    fn discovered(kind: ReportKind, format: FileFormat) -> DiscoveredPeriod {
        DiscoveredPeriod {
            period: "2024-03".parse().unwrap(),
            layout: ReportLayout::LegacyDateRange,
            kind,
            format,
            assembly_id: "asm-1".into(),
            from_manifest: true,
            manifest_key: Some("cur/r/20240301-20240401/r-Manifest.json".into()),
            data_keys: vec!["cur/r/a/r-1.csv.gz".into(), "cur/r/a/r-2.csv.gz".into()],
            missing_keys: vec!["cur/r/a/r-3.csv.gz".into()],
            total_size: 300,
            last_modified: Utc::now(),
        }
    }

    fn files() -> Vec<PlannedFile> {
        vec![
            PlannedFile {
                key: "cur/r/a/r-1.csv.gz".into(),
                size: 100,
            },
            PlannedFile {
                key: "cur/r/a/r-2.csv.gz".into(),
                size: 200,
            },
        ]
    }

    #[test]
    fn a_plan_names_the_kind_and_format_as_the_stored_period_does() {
        for (kind, format, name) in [
            (
                ReportKind::LegacyCur,
                FileFormat::CsvGzip,
                "legacy_cur_csv_gzip",
            ),
            (ReportKind::Cur2, FileFormat::Parquet, "cur2_parquet"),
            (ReportKind::Focus, FileFormat::Csv, "focus_csv"),
            (
                ReportKind::UnknownDataExport,
                FileFormat::CsvZip,
                "data_export_csv_zip",
            ),
        ] {
            let plan = IngestPlan::new("acme-cur", &discovered(kind, format), files());
            assert_eq!(plan.format_name(), name);
        }
    }

    #[test]
    fn a_plan_keeps_the_files_in_manifest_order_and_what_is_missing() {
        let plan = IngestPlan::new(
            "acme-cur",
            &discovered(ReportKind::LegacyCur, FileFormat::CsvGzip),
            files(),
        );
        assert_eq!(
            (plan.bucket.as_str(), plan.assembly_id.as_str()),
            ("acme-cur", "asm-1")
        );
        assert_eq!(plan.files, files());
        assert_eq!(plan.missing, ["cur/r/a/r-3.csv.gz"]);
        assert_eq!(plan.total_bytes(), 300);
    }

    #[test]
    fn payloads_round_trip_and_older_ones_still_decode() {
        let plan = IngestPlan::new(
            "acme-cur",
            &discovered(ReportKind::Cur2, FileFormat::Parquet),
            files(),
        );
        let payload = IngestPayload { plan: Some(plan) };
        let json = serde_json::to_value(&payload).unwrap();
        let back: IngestPayload = serde_json::from_value(json).unwrap();
        assert_eq!(back.plan, payload.plan);

        // A backfill's job has no plan, and says so by leaving it out.
        assert_eq!(
            serde_json::to_value(IngestPayload::default()).unwrap(),
            serde_json::json!({})
        );
        assert_eq!(
            serde_json::from_str::<IngestPayload>("{}").unwrap().plan,
            None
        );
        // A plan queued before `missing` existed.
        let old: IngestPayload = serde_json::from_value(serde_json::json!({"plan": {
            "bucket": "b", "assembly_id": "a", "report_kind": "legacy_cur",
            "file_format": "csv_gzip", "files": [{"key": "k", "size": 1}]
        }}))
        .unwrap();
        assert!(old.plan.unwrap().missing.is_empty());
    }
}
