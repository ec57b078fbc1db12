//! Realistic synthetic reports for tests, demos and benchmarks.
//!
//! [`generate`] writes a report's data files and manifest(s) into a directory using the real S3
//! key layout (upload the tree as-is), and returns totals computed from the generated values
//! themselves, not by reading the files back, so a parser can be checked against them.
//!
//! The files carry the quirks real ones have: quoted commas and quotes, empty cells, unicode and
//! many tag columns, scientific-notation decimals, credits, tax, Savings Plans negations and
//! covered usage, RI discounted usage and fees, EDP discounts, and net columns.

mod focus;
mod model;
mod write;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use costline_domain::BillingPeriod;
use rand::SeedableRng;
use rust_decimal::Decimal;

use crate::discovery::ReportLocation;
use crate::error::CurError;

pub use model::TAG_NAMES;

/// The kind of report to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GenFormat {
    /// Legacy CUR, CSV gzip, "create new report version" layout.
    LegacyCsvGzip,
    /// Legacy CUR, CSV in ZIP archives (`.csv.zip`, one CSV each), same layout.
    LegacyCsvZip,
    /// Legacy CUR with Athena integration, Parquet (snappy).
    LegacyParquet,
    /// CUR 2.0 Data Export, CSV gzip.
    Cur2CsvGzip,
    /// CUR 2.0 Data Export, Parquet (snappy).
    Cur2Parquet,
    /// FOCUS 1.0 Data Export, CSV gzip.
    FocusCsvGzip,
    /// FOCUS 1.0 Data Export, Parquet (snappy), typed as AWS writes it.
    FocusParquet,
}

impl GenFormat {
    /// Every format, for round-trip tests.
    pub const ALL: [GenFormat; 7] = [
        GenFormat::LegacyCsvGzip,
        GenFormat::LegacyCsvZip,
        GenFormat::LegacyParquet,
        GenFormat::Cur2CsvGzip,
        GenFormat::Cur2Parquet,
        GenFormat::FocusCsvGzip,
        GenFormat::FocusParquet,
    ];

    /// Whether data files are Parquet.
    pub fn is_parquet(&self) -> bool {
        matches!(
            self,
            GenFormat::LegacyParquet | GenFormat::Cur2Parquet | GenFormat::FocusParquet
        )
    }

    /// Whether this is a legacy CUR (not a Data Export).
    pub fn is_legacy(&self) -> bool {
        matches!(
            self,
            GenFormat::LegacyCsvGzip | GenFormat::LegacyCsvZip | GenFormat::LegacyParquet
        )
    }

    /// Whether this is legacy CUR CSV (`category/Name` headers), gzip or ZIP.
    pub fn is_legacy_csv(&self) -> bool {
        matches!(self, GenFormat::LegacyCsvGzip | GenFormat::LegacyCsvZip)
    }

    /// Whether this is a FOCUS export (no net columns, FOCUS charge categories).
    pub fn is_focus(&self) -> bool {
        matches!(self, GenFormat::FocusCsvGzip | GenFormat::FocusParquet)
    }

    /// How the parsers name the generated `Team` tag in this format: legacy CSV and FOCUS keep
    /// the case, the snake_case formats (legacy Parquet, CUR 2.0) have `team`.
    pub fn team_tag_key(&self) -> &'static str {
        match self {
            GenFormat::LegacyCsvGzip
            | GenFormat::LegacyCsvZip
            | GenFormat::FocusCsvGzip
            | GenFormat::FocusParquet => "Team",
            _ => "team",
        }
    }
}

/// The report's time granularity: how long one usage line item lasts. Tax, upfront fees and
/// other month-long charges span the billing period at every granularity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Granularity {
    /// One-hour line items (`HOURLY`).
    Hourly,
    /// One-day line items (`DAILY`).
    #[default]
    Daily,
    /// Line items spanning the billing period (`MONTHLY`).
    Monthly,
}

/// Which FOCUS table a FOCUS export is (`FOCUS_1_0_AWS` or `FOCUS_1_2_AWS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FocusVersion {
    /// FOCUS 1.0 with AWS columns.
    #[default]
    V1_0,
    /// FOCUS 1.2 with AWS columns: 57 FOCUS columns plus `x_Discounts`, `x_Operation` and
    /// `x_ServiceCode`; cost categories inside `Tags`.
    V1_2,
}

/// How a Data Export delivers its executions: the export's "file versioning" setting
/// (`S3OutputConfigurations.Overwrite` in the API). The legacy formats have their own layouts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExportVersioning {
    /// "Overwrite existing export file" (`OVERWRITE_REPORT`): the files directly in
    /// `data/BILLING_PERIOD=YYYY-MM/`, the manifest in `metadata/BILLING_PERIOD=YYYY-MM/`.
    #[default]
    Overwrite,
    /// "Create new export file" (`CREATE_NEW_REPORT`): the files in
    /// `data/BILLING_PERIOD=YYYY-MM/<executed_at>-<execution id>/`, the manifest both in
    /// `metadata/BILLING_PERIOD=YYYY-MM/<executed_at>-<execution id>/` and in
    /// `metadata/BILLING_PERIOD=YYYY-MM/`, where it names the newest execution.
    CreateNew {
        /// When the execution ran: the folder name starts with it
        /// (`2024-05-18T20:16:37.306Z`).
        executed_at: DateTime<Utc>,
    },
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// PRNG seed: the same options give byte-identical files.
    pub seed: u64,
    /// Billing period.
    pub period: BillingPeriod,
    /// Number of line items.
    pub rows: usize,
    /// Number of usage (linked) accounts; the first is also the payer.
    pub accounts: usize,
    /// Number of data files the rows are split into.
    pub files: usize,
    /// Report format.
    pub format: GenFormat,
    /// Bucket named in manifests (`s3://bucket/...` data file URIs of Data Exports).
    pub bucket: String,
    /// Report prefix.
    pub prefix: String,
    /// Report (or export) name.
    pub report_name: String,
    /// Number of user tag columns (legacy formats; at least the first 4 are used by rows).
    pub tag_columns: usize,
    /// File versioning of a Data Export (CUR 2.0, FOCUS); must be the default for legacy.
    pub versioning: ExportVersioning,
    /// Time granularity of the line items.
    pub granularity: Granularity,
    /// The FOCUS table of a FOCUS export (ignored by the other formats).
    pub focus_version: FocusVersion,
    /// The usage accounts, when chosen (`accounts` is then their number); empty: `accounts`
    /// random ids.
    pub account_ids: Vec<String>,
    /// The payer account, when not the first usage account (a member account's own report
    /// names its organization's management account as payer).
    pub payer_account_id: Option<String>,
}

impl GenerateOptions {
    /// Options with defaults: 5 accounts, 1 file, bucket `costline-example-cur`, prefix `cur`,
    /// report `costline`, 12 tag columns, "overwrite" file versioning, daily granularity.
    pub fn new(seed: u64, period: BillingPeriod, rows: usize, format: GenFormat) -> Self {
        GenerateOptions {
            seed,
            period,
            rows,
            accounts: 5,
            files: 1,
            format,
            bucket: "costline-example-cur".into(),
            prefix: "cur".into(),
            report_name: "costline".into(),
            tag_columns: 12,
            versioning: ExportVersioning::Overwrite,
            granularity: Granularity::Daily,
            focus_version: FocusVersion::V1_0,
            account_ids: Vec::new(),
            payer_account_id: None,
        }
    }
}

/// Totals computed from the generated values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedTotals {
    /// Number of line items.
    pub rows: u64,
    /// Sum of unblended cost.
    pub unblended: Decimal,
    /// Sum of amortized cost (ADR 0004 rule; FOCUS `EffectiveCost`).
    pub amortized: Decimal,
    /// Sum of net unblended cost (`None` for FOCUS, which has no net columns).
    pub net_unblended: Option<Decimal>,
    /// Sum of net amortized cost (`None` for FOCUS).
    pub net_amortized: Option<Decimal>,
    /// Unblended cost by (UTC usage start date, usage account, product code).
    pub by_day_account_service: BTreeMap<(NaiveDate, String, String), Decimal>,
    /// Unblended cost by normalized line item type.
    pub by_line_item_type: BTreeMap<String, Decimal>,
    /// Unblended cost by value of the `Team` tag (untagged rows are left out).
    pub by_team: BTreeMap<String, Decimal>,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone)]
pub struct GeneratedReport {
    /// The format written.
    pub format: GenFormat,
    /// Bucket-relative location to pass to discovery.
    pub location: ReportLocation,
    /// Billing period.
    pub period: BillingPeriod,
    /// Assembly id (legacy) or execution id (Data Exports) in the manifest.
    pub assembly_id: String,
    /// Keys of the manifests written.
    pub manifest_keys: Vec<String>,
    /// Keys of the data files written, in order.
    pub data_keys: Vec<String>,
    /// Totals computed while generating.
    pub expected: ExpectedTotals,
}

/// Writes a report under `dir` (keys become paths below it) and returns what was written.
pub fn generate(opts: &GenerateOptions, dir: &Path) -> Result<GeneratedReport, CurError> {
    if opts.rows == 0 || opts.files == 0 || opts.accounts == 0 {
        return Err(CurError::Generate(
            "rows, files and accounts must be at least 1".into(),
        ));
    }
    if opts.format.is_legacy() && opts.versioning != ExportVersioning::Overwrite {
        return Err(CurError::Generate(
            "export file versioning is a Data Exports setting; legacy CUR has its own layouts"
                .into(),
        ));
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
    let ctx = model::Context::new(opts, &mut rng);
    let rows: Vec<model::GenRow> = (0..opts.rows)
        .map(|i| model::GenRow::new(&ctx, i, &mut rng))
        .collect();
    let expected = model::expected(&rows, opts.format);
    let (data_keys, manifest_keys) = write::write_report(opts, &ctx, &rows, dir)?;
    Ok(GeneratedReport {
        format: opts.format,
        location: ReportLocation::new(opts.prefix.clone(), opts.report_name.clone()),
        period: opts.period,
        assembly_id: ctx.assembly_id.clone(),
        manifest_keys,
        data_keys,
        expected,
    })
}
