//! Writing generated rows as CSV (legacy, CUR 2.0) and Parquet (legacy, CUR 2.0), with
//! manifests, in the real S3 key layout; FOCUS rows are written by [`super::focus`].

use std::borrow::Cow;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parquet::basic::Compression as PqCompression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use rust_decimal::Decimal;

use super::model::{Context, GenRow};
use super::{focus, ExportVersioning, GenFormat, GenerateOptions};
use crate::columns::legacy_to_snake;
use crate::error::CurError;
use crate::manifest::{
    DataExportColumn, DataExportManifest, LegacyManifest, LegacyManifestColumn, ManifestPeriod,
};

pub(super) fn gen_err(e: impl std::fmt::Display) -> CurError {
    CurError::Generate(e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    LineItemId,
    TimeInterval,
    InvoiceId,
    BillingEntity,
    BillType,
    Payer,
    BillStart,
    BillEnd,
    Account,
    LineItemType,
    UsageStart,
    UsageEnd,
    ProductCode,
    UsageType,
    Operation,
    Az,
    ResourceId,
    UsageAmount,
    Currency,
    Rate,
    Unblended,
    NetUnblended,
    Blended,
    Description,
    ProductName,
    Region,
    RegionCode,
    PublicOd,
    Unit,
    RiArn,
    RiEff,
    RiNetEff,
    RiUnusedAmort,
    RiNetUnusedAmort,
    RiUnusedRec,
    RiNetUnusedRec,
    SpArn,
    SpEff,
    SpNetEff,
    SpTotal,
    SpUsed,
    SpAmortUpfront,
    SpNetAmortUpfront,
    SpRecurring,
    PayerName,
    AccountName,
}

/// Legacy CUR names of the generated columns.
const COLUMNS: &[(&str, Col)] = &[
    ("identity/LineItemId", Col::LineItemId),
    ("identity/TimeInterval", Col::TimeInterval),
    ("bill/InvoiceId", Col::InvoiceId),
    ("bill/BillingEntity", Col::BillingEntity),
    ("bill/BillType", Col::BillType),
    ("bill/PayerAccountId", Col::Payer),
    ("bill/BillingPeriodStartDate", Col::BillStart),
    ("bill/BillingPeriodEndDate", Col::BillEnd),
    ("lineItem/UsageAccountId", Col::Account),
    ("lineItem/LineItemType", Col::LineItemType),
    ("lineItem/UsageStartDate", Col::UsageStart),
    ("lineItem/UsageEndDate", Col::UsageEnd),
    ("lineItem/ProductCode", Col::ProductCode),
    ("lineItem/UsageType", Col::UsageType),
    ("lineItem/Operation", Col::Operation),
    ("lineItem/AvailabilityZone", Col::Az),
    ("lineItem/ResourceId", Col::ResourceId),
    ("lineItem/UsageAmount", Col::UsageAmount),
    ("lineItem/CurrencyCode", Col::Currency),
    ("lineItem/UnblendedRate", Col::Rate),
    ("lineItem/UnblendedCost", Col::Unblended),
    ("lineItem/NetUnblendedCost", Col::NetUnblended),
    ("lineItem/BlendedCost", Col::Blended),
    ("lineItem/LineItemDescription", Col::Description),
    ("product/ProductName", Col::ProductName),
    ("product/region", Col::Region),
    ("product/regionCode", Col::RegionCode),
    ("pricing/publicOnDemandCost", Col::PublicOd),
    ("pricing/unit", Col::Unit),
    ("reservation/ReservationARN", Col::RiArn),
    ("reservation/EffectiveCost", Col::RiEff),
    ("reservation/NetEffectiveCost", Col::RiNetEff),
    (
        "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
        Col::RiUnusedAmort,
    ),
    (
        "reservation/NetUnusedAmortizedUpfrontFeeForBillingPeriod",
        Col::RiNetUnusedAmort,
    ),
    ("reservation/UnusedRecurringFee", Col::RiUnusedRec),
    ("reservation/NetUnusedRecurringFee", Col::RiNetUnusedRec),
    ("savingsPlan/SavingsPlanARN", Col::SpArn),
    ("savingsPlan/SavingsPlanEffectiveCost", Col::SpEff),
    ("savingsPlan/NetSavingsPlanEffectiveCost", Col::SpNetEff),
    ("savingsPlan/TotalCommitmentToDate", Col::SpTotal),
    ("savingsPlan/UsedCommitment", Col::SpUsed),
    (
        "savingsPlan/AmortizedUpfrontCommitmentForBillingPeriod",
        Col::SpAmortUpfront,
    ),
    (
        "savingsPlan/NetAmortizedUpfrontCommitmentForBillingPeriod",
        Col::SpNetAmortUpfront,
    ),
    (
        "savingsPlan/RecurringCommitmentForBillingPeriod",
        Col::SpRecurring,
    ),
];

pub(super) enum Cell<'a> {
    S(&'a str),
    O(String),
    D(Option<Decimal>),
    T(DateTime<Utc>),
}

fn cell<'a>(c: Col, r: &'a GenRow, ctx: &'a Context) -> Cell<'a> {
    let day = |d: chrono::NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
    match c {
        Col::LineItemId => Cell::S(&r.id),
        Col::TimeInterval => Cell::O(format!(
            "{}/{}",
            r.usage_start.format("%Y-%m-%dT%H:%M:%SZ"),
            r.usage_end.format("%Y-%m-%dT%H:%M:%SZ")
        )),
        Col::InvoiceId => Cell::S(""),
        Col::BillingEntity => Cell::S("AWS"),
        Col::BillType => Cell::S("Anniversary"),
        Col::Payer => Cell::S(&r.payer),
        Col::BillStart => Cell::T(day(ctx.start)),
        Col::BillEnd => Cell::T(day(ctx.end)),
        Col::Account => Cell::S(&r.account),
        Col::LineItemType => Cell::S(r.kind.line_item_type()),
        Col::UsageStart => Cell::T(r.usage_start),
        Col::UsageEnd => Cell::T(r.usage_end),
        Col::ProductCode => Cell::S(r.product_code),
        Col::UsageType => Cell::S(&r.usage_type),
        Col::Operation => Cell::S(r.operation),
        Col::Az => Cell::S(r.az),
        Col::ResourceId => Cell::S(&r.resource_id),
        Col::UsageAmount => Cell::D(Some(r.usage_amount)),
        Col::Currency => Cell::S("USD"),
        Col::Rate => Cell::D(r.rate),
        Col::Unblended | Col::Blended => Cell::D(Some(r.unblended)),
        Col::NetUnblended => Cell::D(Some(r.net_unblended)),
        Col::Description => Cell::S(&r.description),
        Col::ProductName => Cell::S(r.product_name),
        Col::Region | Col::RegionCode => Cell::S(r.region),
        Col::PublicOd => Cell::D(r.public_od),
        Col::Unit => Cell::S(r.unit),
        Col::RiArn => Cell::S(if r.ri_arn { &ctx.ri_arn } else { "" }),
        Col::RiEff => Cell::D(r.ri_eff),
        Col::RiNetEff => Cell::D(r.ri_net_eff),
        Col::RiUnusedAmort => Cell::D(r.ri_unused_amort),
        Col::RiNetUnusedAmort => Cell::D(r.ri_net_unused_amort),
        Col::RiUnusedRec => Cell::D(r.ri_unused_rec),
        Col::RiNetUnusedRec => Cell::D(r.ri_net_unused_rec),
        Col::SpArn => Cell::S(if r.sp_arn.is_empty() { "" } else { &ctx.sp_arn }),
        Col::SpEff => Cell::D(r.sp_eff),
        Col::SpNetEff => Cell::D(r.sp_net_eff),
        Col::SpTotal => Cell::D(r.sp_total_commit),
        Col::SpUsed => Cell::D(r.sp_used_commit),
        Col::SpAmortUpfront => Cell::D(r.sp_amort_upfront),
        Col::SpNetAmortUpfront => Cell::D(r.sp_net_amort_upfront),
        Col::SpRecurring => Cell::D(r.sp_recurring),
        Col::PayerName => Cell::S("Costline Example Org"),
        Col::AccountName => Cell::O(format!("Account {}", &r.account[8..])),
    }
}

/// Columns (name, id) for a format: legacy names for legacy CSV, snake_case otherwise.
fn columns_for(format: GenFormat) -> Vec<(String, Col)> {
    let legacy = format.is_legacy_csv();
    let cur2 = matches!(format, GenFormat::Cur2CsvGzip | GenFormat::Cur2Parquet);
    let mut out: Vec<(String, Col)> = COLUMNS
        .iter()
        .filter(|(_, c)| !(cur2 && *c == Col::Region))
        .map(|(n, c)| {
            (
                if legacy {
                    (*n).to_owned()
                } else {
                    legacy_to_snake(n)
                },
                *c,
            )
        })
        .collect();
    if cur2 {
        out.insert(6, ("bill_payer_account_name".into(), Col::PayerName));
        out.insert(
            10,
            ("line_item_usage_account_name".into(), Col::AccountName),
        );
    }
    out
}

/// Scientific notation the way CUR writes tiny values: `1.2E-7`.
fn scientific(d: Decimal) -> String {
    let n = d.normalize();
    let digits = n.mantissa().unsigned_abs().to_string();
    let exp = digits.len() as i64 - 1 - n.scale() as i64;
    let sign = if n.is_sign_negative() { "-" } else { "" };
    let (head, tail) = digits.split_at(1);
    if tail.is_empty() {
        format!("{sign}{head}E{exp}")
    } else {
        format!("{sign}{head}.{tail}E{exp}")
    }
}

fn fmt_decimal(d: Decimal, legacy: bool) -> String {
    if legacy && !d.is_zero() && d.abs() < Decimal::new(1, 6) {
        scientific(d)
    } else {
        d.to_string()
    }
}

pub(super) fn to_f64(d: Decimal) -> f64 {
    d.to_string().parse().expect("decimal text is a float")
}

fn tag_snake(name: &str) -> String {
    legacy_to_snake(name)
}

pub(super) fn write_report(
    opts: &GenerateOptions,
    ctx: &Context,
    rows: &[GenRow],
    dir: &Path,
) -> Result<(Vec<String>, Vec<String>), CurError> {
    let base =
        crate::discovery::ReportLocation::new(opts.prefix.clone(), opts.report_name.clone()).base();
    let report = opts.report_name.trim_matches('/');
    let p = opts.period;
    let (data_dir, ext) = match opts.format {
        GenFormat::LegacyCsvGzip | GenFormat::LegacyCsvZip => (
            format!(
                "{base}{}-{}/{}/",
                p.start().format("%Y%m%d"),
                p.end().format("%Y%m%d"),
                ctx.assembly_id
            ),
            if opts.format == GenFormat::LegacyCsvZip {
                "csv.zip"
            } else {
                "csv.gz"
            },
        ),
        GenFormat::LegacyParquet => (
            format!("{base}{report}/year={}/month={}/", p.year(), p.month()),
            "snappy.parquet",
        ),
        GenFormat::Cur2Parquet
        | GenFormat::FocusParquet
        | GenFormat::Cur2CsvGzip
        | GenFormat::FocusCsvGzip => (
            format!(
                "{}{}",
                partition_dir(opts, &base, "data"),
                execution_folder(opts, ctx)
            ),
            if opts.format.is_parquet() {
                "snappy.parquet"
            } else {
                "csv.gz"
            },
        ),
    };
    let per_file = rows.len().div_ceil(opts.files);
    let mut data_keys = Vec::new();
    for (n, chunk) in rows.chunks(per_file.max(1)).enumerate() {
        let key = format!("{data_dir}{report}-{:05}.{ext}", n + 1);
        let path = dir.join(&key);
        fs::create_dir_all(path.parent().expect("key has a folder")).map_err(gen_err)?;
        let file = File::create(&path).map_err(gen_err)?;
        match opts.format {
            GenFormat::LegacyCsvGzip | GenFormat::Cur2CsvGzip => {
                let mut out = gz(file);
                write_cur_csv(opts.format, ctx, chunk, &mut out)?;
                finish_gz(out)?
            }
            GenFormat::LegacyCsvZip => {
                // One CSV per archive, named as the data file without `.zip`, as AWS does.
                let entry = format!("{report}-{:05}.csv", n + 1);
                let mut out = zip::ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
                out.start_file(entry, zip::write::SimpleFileOptions::default())
                    .map_err(gen_err)?;
                write_cur_csv(opts.format, ctx, chunk, &mut out)?;
                out.finish().map_err(gen_err)?.flush().map_err(gen_err)?
            }
            GenFormat::FocusCsvGzip => focus::write_csv(ctx, chunk, file)?,
            GenFormat::FocusParquet => focus::write_parquet(ctx, chunk, file)?,
            GenFormat::LegacyParquet | GenFormat::Cur2Parquet => {
                write_parquet(opts.format, ctx, chunk, file)?
            }
        }
        data_keys.push(key);
    }
    let manifest_keys = write_manifests(opts, ctx, &base, &data_dir, &data_keys, dir)?;
    Ok((data_keys, manifest_keys))
}

/// A Data Export's `<base><kind>/BILLING_PERIOD=YYYY-MM/` folder (`kind`: `data`, `metadata`).
fn partition_dir(opts: &GenerateOptions, base: &str, kind: &str) -> String {
    format!("{base}{kind}/BILLING_PERIOD={}/", opts.period)
}

/// The execution's own folder below the partition folder, `<executed_at>-<execution id>/`, in
/// "create new export file" mode; empty when each execution overwrites the last.
fn execution_folder(opts: &GenerateOptions, ctx: &Context) -> String {
    match opts.versioning {
        ExportVersioning::Overwrite => String::new(),
        ExportVersioning::CreateNew { executed_at } => format!(
            "{}-{}/",
            executed_at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            ctx.assembly_id
        ),
    }
}

fn write_json(dir: &Path, key: &str, json: &[u8]) -> Result<(), CurError> {
    let path = dir.join(key);
    fs::create_dir_all(path.parent().expect("key has a folder")).map_err(gen_err)?;
    fs::write(path, json).map_err(gen_err)
}

fn write_manifests(
    opts: &GenerateOptions,
    ctx: &Context,
    base: &str,
    data_dir: &str,
    data_keys: &[String],
    dir: &Path,
) -> Result<Vec<String>, CurError> {
    let report = opts.report_name.trim_matches('/');
    let period = ManifestPeriod {
        start: format!("{}T000000.000Z", ctx.start.format("%Y%m%d")),
        end: format!("{}T000000.000Z", ctx.end.format("%Y%m%d")),
    };
    match opts.format {
        GenFormat::LegacyCsvGzip | GenFormat::LegacyCsvZip | GenFormat::LegacyParquet => {
            let parquet = opts.format == GenFormat::LegacyParquet;
            let mut columns: Vec<LegacyManifestColumn> = COLUMNS
                .iter()
                .map(|(n, _)| {
                    let (c, name) = n.split_once('/').expect("category/name");
                    LegacyManifestColumn {
                        category: c.into(),
                        name: name.into(),
                        column_type: Some(
                            if n.contains("Cost") || n.contains("Amount") {
                                "BigDecimal"
                            } else {
                                "String"
                            }
                            .into(),
                        ),
                    }
                })
                .collect();
            for t in &ctx.tag_names {
                columns.push(LegacyManifestColumn {
                    category: "resourceTags".into(),
                    name: format!("user:{t}"),
                    column_type: Some("String".into()),
                });
            }
            let m = LegacyManifest {
                assembly_id: ctx.assembly_id.clone(),
                account: Some(ctx.payer.clone()),
                columns,
                charset: Some("UTF-8".into()),
                compression: Some(
                    match opts.format {
                        GenFormat::LegacyParquet => "Parquet",
                        GenFormat::LegacyCsvZip => "ZIP",
                        _ => "GZIP",
                    }
                    .into(),
                ),
                content_type: Some(if parquet { "Parquet" } else { "text/csv" }.into()),
                report_id: Some(format!("{:x}", opts.seed)),
                report_name: Some(report.into()),
                billing_period: period,
                bucket: Some(opts.bucket.clone()),
                report_keys: data_keys.to_vec(),
                additional_artifact_keys: Vec::new(),
            };
            let json = serde_json::to_vec_pretty(&m).map_err(gen_err)?;
            let mut keys = vec![format!("{data_dir}{report}-Manifest.json")];
            if !parquet {
                // Versioned delivery: the range folder's manifest names the current assembly.
                let range_dir = data_dir
                    .trim_end_matches('/')
                    .rsplit_once('/')
                    .expect("range/assembly")
                    .0;
                keys.push(format!("{range_dir}/{report}-Manifest.json"));
            }
            for k in &keys {
                write_json(dir, k, &json)?;
            }
            Ok(keys)
        }
        _ => {
            let focus = opts.format.is_focus();
            let columns = if focus {
                focus::manifest_columns(opts.focus_version, opts.format.is_parquet())
            } else {
                columns_for(opts.format)
                    .into_iter()
                    .map(|(n, _)| DataExportColumn {
                        name: n,
                        column_type: Some("string".into()),
                    })
                    .chain(std::iter::once(DataExportColumn {
                        name: "resource_tags".into(),
                        column_type: Some("map<string,string>".into()),
                    }))
                    .collect()
            };
            let table = match opts.focus_version {
                _ if !focus => "COST_AND_USAGE_REPORT",
                super::FocusVersion::V1_0 => "FOCUS_1_0_AWS",
                super::FocusVersion::V1_2 => "FOCUS_1_2_AWS",
            };
            let m = DataExportManifest {
                execution_id: ctx.assembly_id.clone(),
                export_arn: Some(format!(
                    "arn:aws:bcm-data-exports:us-east-1:{}:export/{report}",
                    ctx.payer
                )),
                export_name: Some(report.into()),
                query_statement: Some(format!("SELECT * FROM {table}")),
                billing_period: Some(
                    serde_json::json!({"start": ctx.start.to_string(), "end": ctx.end.to_string()}),
                ),
                data_files: data_keys
                    .iter()
                    .map(|k| format!("s3://{}/{k}", opts.bucket))
                    .collect(),
                columns,
            };
            // "Create new" writes the manifest into the execution's folder, then over the
            // partition folder's, which always names the newest execution.
            let partition = partition_dir(opts, base, "metadata");
            let execution = execution_folder(opts, ctx);
            let mut keys = Vec::new();
            if !execution.is_empty() {
                keys.push(format!("{partition}{execution}{report}-Manifest.json"));
            }
            keys.push(format!("{partition}{report}-Manifest.json"));
            let json = serde_json::to_vec_pretty(&m).map_err(gen_err)?;
            for k in &keys {
                write_json(dir, k, &json)?;
            }
            Ok(keys)
        }
    }
}

pub(super) fn gz(file: File) -> flate2::write::GzEncoder<BufWriter<File>> {
    flate2::write::GzEncoder::new(
        BufWriter::with_capacity(1 << 20, file),
        flate2::Compression::default(),
    )
}

pub(super) fn finish_gz(enc: flate2::write::GzEncoder<BufWriter<File>>) -> Result<(), CurError> {
    enc.finish().map_err(gen_err)?.flush().map_err(gen_err)
}

fn write_cur_csv<W: Write>(
    format: GenFormat,
    ctx: &Context,
    rows: &[GenRow],
    out: W,
) -> Result<(), CurError> {
    let legacy = format.is_legacy_csv();
    let cols = columns_for(format);
    let mut w = csv::WriterBuilder::new().from_writer(out);
    let mut header: Vec<String> = cols.iter().map(|(n, _)| n.clone()).collect();
    if legacy {
        header.extend(
            ctx.tag_names
                .iter()
                .map(|t| format!("resourceTags/user:{t}")),
        );
        header.push("resourceTags/aws:createdBy".into());
    } else {
        header.push("resource_tags".into());
    }
    w.write_record(&header).map_err(gen_err)?;
    let mut rec: Vec<Cow<str>> = Vec::with_capacity(header.len());
    for r in rows {
        rec.clear();
        for (_, c) in &cols {
            rec.push(match cell(*c, r, ctx) {
                Cell::S(s) => Cow::Borrowed(s),
                Cell::O(s) => Cow::Owned(s),
                Cell::D(None) => Cow::Borrowed(""),
                Cell::D(Some(d)) => Cow::Owned(fmt_decimal(d, legacy)),
                Cell::T(t) => {
                    Cow::Owned(if legacy && !matches!(c, Col::BillStart | Col::BillEnd) {
                        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
                    } else {
                        t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
                    })
                }
            });
        }
        if legacy {
            for i in 0..ctx.tag_names.len() {
                rec.push(Cow::Borrowed(r.tag(i).unwrap_or("")));
            }
            rec.push(Cow::Borrowed(r.aws_created_by.unwrap_or("")));
        } else {
            let mut map = serde_json::Map::new();
            for (i, v) in &r.tags {
                map.insert(
                    format!("user_{}", tag_snake(&ctx.tag_names[*i])),
                    (*v).into(),
                );
            }
            if let Some(v) = r.aws_created_by {
                map.insert("aws_created_by".into(), v.into());
            }
            rec.push(Cow::Owned(if map.is_empty() {
                String::new()
            } else {
                serde_json::Value::Object(map).to_string()
            }));
        }
        w.write_record(rec.iter().map(|c| c.as_bytes()))
            .map_err(gen_err)?;
    }
    w.flush().map_err(gen_err)
}

pub(super) const ROW_GROUP: usize = 65_536;

fn write_parquet(
    format: GenFormat,
    ctx: &Context,
    rows: &[GenRow],
    file: File,
) -> Result<(), CurError> {
    let cols = columns_for(format);
    let legacy = format == GenFormat::LegacyParquet;
    let probe = &rows[0];
    let mut schema = String::from("message schema {\n");
    for (name, c) in &cols {
        let line = match cell(*c, probe, ctx) {
            Cell::S(_) | Cell::O(_) => format!("  optional binary {name} (STRING);\n"),
            Cell::D(_) => format!("  optional double {name};\n"),
            Cell::T(_) => format!("  optional int64 {name} (TIMESTAMP(MILLIS,true));\n"),
        };
        schema.push_str(&line);
    }
    let tag_cols: Vec<String> = ctx
        .tag_names
        .iter()
        .map(|t| format!("resource_tags_user_{}", tag_snake(t)))
        .collect();
    if legacy {
        for t in &tag_cols {
            schema.push_str(&format!("  optional binary {t} (STRING);\n"));
        }
        schema.push_str("  optional binary resource_tags_aws_created_by (STRING);\n");
    } else {
        schema.push_str(
            "  optional group resource_tags (MAP) {\n    repeated group key_value {\n      required binary key (STRING);\n      optional binary value (STRING);\n    }\n  }\n",
        );
    }
    schema.push('}');
    let mut writer = snappy_parquet_writer(&schema, file)?;
    for chunk in rows.chunks(ROW_GROUP) {
        let mut rg = writer.next_row_group().map_err(gen_err)?;
        let mut col_idx = 0;
        while let Some(mut cw) = rg.next_column().map_err(gen_err)? {
            let mut defs: Vec<i16> = Vec::with_capacity(chunk.len());
            if col_idx < cols.len() {
                let c = cols[col_idx].1;
                match cell(c, probe, ctx) {
                    Cell::S(_) | Cell::O(_) => {
                        let mut vals = Vec::new();
                        for r in chunk {
                            let s = match cell(c, r, ctx) {
                                Cell::S(s) => Cow::Borrowed(s),
                                Cell::O(s) => Cow::Owned(s),
                                _ => unreachable!("column type is fixed"),
                            };
                            if s.is_empty() {
                                defs.push(0);
                            } else {
                                defs.push(1);
                                vals.push(ByteArray::from(s.as_bytes().to_vec()));
                            }
                        }
                        cw.typed::<ByteArrayType>()
                            .write_batch(&vals, Some(&defs), None)
                            .map_err(gen_err)?;
                    }
                    Cell::D(_) => {
                        let mut vals = Vec::new();
                        for r in chunk {
                            match cell(c, r, ctx) {
                                Cell::D(Some(d)) => {
                                    defs.push(1);
                                    vals.push(to_f64(d));
                                }
                                _ => defs.push(0),
                            }
                        }
                        cw.typed::<DoubleType>()
                            .write_batch(&vals, Some(&defs), None)
                            .map_err(gen_err)?;
                    }
                    Cell::T(_) => {
                        let mut vals = Vec::new();
                        for r in chunk {
                            if let Cell::T(t) = cell(c, r, ctx) {
                                defs.push(1);
                                vals.push(t.timestamp_millis());
                            }
                        }
                        cw.typed::<Int64Type>()
                            .write_batch(&vals, Some(&defs), None)
                            .map_err(gen_err)?;
                    }
                }
            } else if legacy {
                let t = col_idx - cols.len();
                let mut vals = Vec::new();
                for r in chunk {
                    let v = if t < tag_cols.len() {
                        r.tag(t)
                    } else {
                        r.aws_created_by
                    };
                    match v {
                        Some(v) => {
                            defs.push(1);
                            vals.push(ByteArray::from(v));
                        }
                        None => defs.push(0),
                    }
                }
                cw.typed::<ByteArrayType>()
                    .write_batch(&vals, Some(&defs), None)
                    .map_err(gen_err)?;
            } else {
                // Map leaves: key (max def 2) then value (max def 3).
                let is_key = col_idx == cols.len();
                let mut reps = Vec::new();
                let mut vals = Vec::new();
                for r in chunk {
                    let mut entries: Vec<(String, &str)> = r
                        .tags
                        .iter()
                        .map(|(i, v)| (format!("user_{}", tag_snake(&ctx.tag_names[*i])), *v))
                        .collect();
                    if let Some(v) = r.aws_created_by {
                        entries.push(("aws_created_by".into(), v));
                    }
                    if entries.is_empty() {
                        defs.push(1);
                        reps.push(0);
                        continue;
                    }
                    for (j, (k, v)) in entries.iter().enumerate() {
                        reps.push(if j == 0 { 0 } else { 1 });
                        defs.push(if is_key { 2 } else { 3 });
                        vals.push(ByteArray::from(if is_key { k.as_str() } else { *v }));
                    }
                }
                cw.typed::<ByteArrayType>()
                    .write_batch(&vals, Some(&defs), Some(&reps))
                    .map_err(gen_err)?;
            }
            cw.close().map_err(gen_err)?;
            col_idx += 1;
        }
        rg.close().map_err(gen_err)?;
    }
    writer.close().map_err(gen_err)?;
    Ok(())
}

/// A Parquet writer for a message-type `schema`, snappy-compressed as AWS writes its exports.
pub(super) fn snappy_parquet_writer(
    schema: &str,
    file: File,
) -> Result<SerializedFileWriter<BufWriter<File>>, CurError> {
    let schema = Arc::new(parse_message_type(schema).map_err(gen_err)?);
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(PqCompression::SNAPPY)
            .build(),
    );
    SerializedFileWriter::new(BufWriter::new(file), schema, props).map_err(gen_err)
}
