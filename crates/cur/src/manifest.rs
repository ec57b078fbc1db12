//! Report manifests: legacy CUR `<report>-Manifest.json` and Data Exports (CUR 2.0 / FOCUS)
//! `metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json`.
//!
//! Only the fields discovery needs are required; everything else is optional so that a field
//! AWS adds or drops does not break ingestion.

use chrono::{Datelike, NaiveDate};
use costline_domain::BillingPeriod;
use serde::{Deserialize, Serialize};

use crate::error::CurError;

/// A legacy CUR manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyManifest {
    /// The delivery (assembly) this manifest describes.
    pub assembly_id: String,
    /// The account that owns the report definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Columns in the report files, in order.
    #[serde(default)]
    pub columns: Vec<LegacyManifestColumn>,
    /// `UTF-8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charset: Option<String>,
    /// `GZIP`, `ZIP` or `Parquet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    /// `text/csv` or `Parquet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Report definition id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_id: Option<String>,
    /// Report name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_name: Option<String>,
    /// The billing period, `{"start": "20231101T000000.000Z", "end": "20231201T000000.000Z"}`.
    pub billing_period: ManifestPeriod,
    /// The bucket the report is delivered to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// The data files of this assembly, as S3 keys (no bucket).
    #[serde(default)]
    pub report_keys: Vec<String>,
    /// Redshift/QuickSight artifacts, unused here.
    #[serde(default)]
    pub additional_artifact_keys: Vec<serde_json::Value>,
}

/// One column of a legacy manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyManifestColumn {
    /// `lineItem`, `bill`, `resourceTags`, ...
    pub category: String,
    /// `UnblendedCost`, `user:Team`, ...
    pub name: String,
    /// `String`, `BigDecimal`, `DateTime`, ... (absent in old manifests).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub column_type: Option<String>,
}

/// A manifest's billing period bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestPeriod {
    /// Start, e.g. `20231101T000000.000Z`.
    pub start: String,
    /// End (exclusive).
    pub end: String,
}

/// Parses `20231101T000000.000Z`, `2023-11-01T00:00:00Z`, `2023-11-01` or `20231101`.
pub(crate) fn manifest_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() >= 8 && b[..8].iter().all(u8::is_ascii_digit) {
        let y = s[0..4].parse().ok()?;
        let m = s[4..6].parse().ok()?;
        let d = s[6..8].parse().ok()?;
        return NaiveDate::from_ymd_opt(y, m, d);
    }
    crate::num::parse_timestamp(b).map(|t| t.date_naive())
}

impl LegacyManifest {
    /// Parses manifest bytes; `key` names the manifest in errors.
    pub fn parse(key: &str, bytes: &[u8]) -> Result<Self, CurError> {
        serde_json::from_slice(bytes).map_err(|e| CurError::Manifest {
            key: key.to_owned(),
            message: e.to_string(),
        })
    }

    /// The billing period the manifest's `billingPeriod.start` falls in.
    pub fn period(&self) -> Option<BillingPeriod> {
        let d = manifest_date(&self.billing_period.start)?;
        BillingPeriod::new(d.year(), d.month()).ok()
    }

    /// True when the report files are Parquet.
    pub fn is_parquet(&self) -> bool {
        let is = |v: &Option<String>| {
            v.as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case("parquet"))
        };
        is(&self.compression) || is(&self.content_type)
    }
}

/// A Data Exports (CUR 2.0 / FOCUS) manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataExportManifest {
    /// The export execution that wrote these files (plays the role of an assembly id).
    pub execution_id: String,
    /// The export's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_arn: Option<String>,
    /// The export's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_name: Option<String>,
    /// The SQL the export runs (`... FROM COST_AND_USAGE_REPORT` or `FROM FOCUS_1_0_AWS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_statement: Option<String>,
    /// Billing period as AWS writes it (format not relied on; the folder name is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_period: Option<serde_json::Value>,
    /// Data files as full `s3://bucket/key` URIs.
    #[serde(default)]
    pub data_files: Vec<String>,
    /// Columns and types.
    #[serde(default)]
    pub columns: Vec<DataExportColumn>,
}

/// One column of a Data Exports manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataExportColumn {
    /// Column name.
    pub name: String,
    /// Column type (`string`, `double`, `timestamp`, `map<string,string>`, ...).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub column_type: Option<String>,
}

/// What a Data Export contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportTable {
    /// `COST_AND_USAGE_REPORT` (CUR 2.0).
    Cur2,
    /// `FOCUS_1_0_AWS` / `FOCUS_1_2_AWS`.
    Focus,
}

impl DataExportManifest {
    /// Parses manifest bytes; `key` names the manifest in errors.
    pub fn parse(key: &str, bytes: &[u8]) -> Result<Self, CurError> {
        serde_json::from_slice(bytes).map_err(|e| CurError::Manifest {
            key: key.to_owned(),
            message: e.to_string(),
        })
    }

    /// The data files as S3 keys (the `s3://bucket/` part removed).
    pub fn data_keys(&self) -> Vec<String> {
        self.data_files
            .iter()
            .map(|u| s3_uri_key(u).to_owned())
            .collect()
    }

    /// Whether the export is CUR 2.0 or FOCUS, from its query or columns.
    pub fn table(&self) -> ExportTable {
        let q = self
            .query_statement
            .as_deref()
            .unwrap_or("")
            .to_ascii_uppercase();
        if q.contains("FOCUS_")
            || self
                .columns
                .iter()
                .any(|c| c.name == "BilledCost" || c.name == "ChargePeriodStart")
        {
            ExportTable::Focus
        } else {
            ExportTable::Cur2
        }
    }
}

/// `s3://bucket/a/b.parquet` -> `a/b.parquet`; a plain key is returned unchanged.
pub fn s3_uri_key(uri: &str) -> &str {
    match uri.strip_prefix("s3://") {
        Some(rest) => rest.split_once('/').map(|(_, k)| k).unwrap_or(""),
        None => uri,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_manifest_parses() {
        let json = br#"{"assemblyId":"6a8c2f0e-1111-2222-3333-444455556666","account":"123456789012",
          "columns":[{"category":"identity","name":"LineItemId","type":"String"},{"category":"lineItem","name":"UnblendedCost"}],
          "charset":"UTF-8","compression":"GZIP","contentType":"text/csv","reportId":"abc","reportName":"cur",
          "billingPeriod":{"start":"20231101T000000.000Z","end":"20231201T000000.000Z"},"bucket":"b",
          "reportKeys":["p/cur/20231101-20231201/6a8c/cur-00001.csv.gz"],"additionalArtifactKeys":[]}"#;
        let m = LegacyManifest::parse("k", json).unwrap();
        assert_eq!(m.period(), Some(BillingPeriod::new(2023, 11).unwrap()));
        assert_eq!(m.report_keys.len(), 1);
        assert_eq!(m.columns[1].column_type, None);
        assert!(!m.is_parquet());
        assert!(matches!(
            LegacyManifest::parse("k", b"{}"),
            Err(CurError::Manifest { .. })
        ));
    }

    #[test]
    fn data_export_manifest_parses() {
        let json =
            br#"{"executionId":"e-1","exportArn":"arn:aws:bcm-data-exports:us-east-1:1:export/x",
          "dataFiles":["s3://bucket/p/x/data/BILLING_PERIOD=2024-09/x-00001.snappy.parquet"],
          "columns":[{"name":"line_item_unblended_cost","type":"double"}]}"#;
        let m = DataExportManifest::parse("k", json).unwrap();
        assert_eq!(
            m.data_keys(),
            vec!["p/x/data/BILLING_PERIOD=2024-09/x-00001.snappy.parquet"]
        );
        assert_eq!(m.table(), ExportTable::Cur2);
        assert_eq!(
            manifest_date("2024-09-01T00:00:00Z"),
            NaiveDate::from_ymd_opt(2024, 9, 1)
        );
    }
}
