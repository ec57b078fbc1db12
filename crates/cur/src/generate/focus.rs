//! FOCUS 1.0 or 1.2 with AWS columns (`FOCUS_1_0_AWS`, `FOCUS_1_2_AWS`): the same rows written
//! as CSV gzip (nulls spelled `NULL`, `Tags` a JSON object) or as Parquet typed the way the AWS
//! data dictionary types them (strings, doubles, millisecond timestamps, `Tags` a
//! `map<string,string>`). FOCUS 1.2 has no `x_UsageType` (the usage type is in `SkuMeter`) and
//! no `x_CostCategories`: cost categories are `costCategory/`-prefixed keys of `Tags`.

use std::borrow::Cow;
use std::fs::File;
use std::io::Write;

use parquet::data_type::{ByteArray, ByteArrayType, DataType, DoubleType, Int64Type};
use parquet::file::writer::SerializedRowGroupWriter;

use super::model::{Context, GenRow};
use super::write::{finish_gz, gen_err, gz, snappy_parquet_writer, to_f64, Cell, ROW_GROUP};
use super::FocusVersion;
use crate::error::CurError;
use crate::manifest::DataExportColumn;

/// A column's type in AWS's FOCUS export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ty {
    Str,
    Double,
    Timestamp,
    StrMap,
    DoubleMap,
}

impl Ty {
    fn manifest_type(self) -> &'static str {
        match self {
            Ty::Str => "string",
            Ty::Double => "double",
            Ty::Timestamp => "timestamp",
            Ty::StrMap => "map<string,string>",
            Ty::DoubleMap => "map<string,double>",
        }
    }
}

/// The columns of `FOCUS_1_0_AWS`, in the order AWS writes them.
pub(super) const FOCUS_COLUMNS: &[(&str, Ty)] = &[
    ("AvailabilityZone", Ty::Str),
    ("BilledCost", Ty::Double),
    ("BillingAccountId", Ty::Str),
    ("BillingAccountName", Ty::Str),
    ("BillingCurrency", Ty::Str),
    ("BillingPeriodEnd", Ty::Timestamp),
    ("BillingPeriodStart", Ty::Timestamp),
    ("ChargeCategory", Ty::Str),
    ("ChargeClass", Ty::Str),
    ("ChargeDescription", Ty::Str),
    ("ChargeFrequency", Ty::Str),
    ("ChargePeriodEnd", Ty::Timestamp),
    ("ChargePeriodStart", Ty::Timestamp),
    ("CommitmentDiscountCategory", Ty::Str),
    ("CommitmentDiscountId", Ty::Str),
    ("CommitmentDiscountName", Ty::Str),
    ("CommitmentDiscountStatus", Ty::Str),
    ("CommitmentDiscountType", Ty::Str),
    ("ConsumedQuantity", Ty::Double),
    ("ConsumedUnit", Ty::Str),
    ("ContractedCost", Ty::Double),
    ("ContractedUnitPrice", Ty::Double),
    ("EffectiveCost", Ty::Double),
    ("InvoiceIssuerName", Ty::Str),
    ("ListCost", Ty::Double),
    ("ListUnitPrice", Ty::Double),
    ("PricingCategory", Ty::Str),
    ("PricingQuantity", Ty::Double),
    ("PricingUnit", Ty::Str),
    ("ProviderName", Ty::Str),
    ("PublisherName", Ty::Str),
    ("RegionId", Ty::Str),
    ("RegionName", Ty::Str),
    ("ResourceId", Ty::Str),
    ("ResourceName", Ty::Str),
    ("ResourceType", Ty::Str),
    ("ServiceCategory", Ty::Str),
    ("ServiceName", Ty::Str),
    ("SkuId", Ty::Str),
    ("SkuPriceId", Ty::Str),
    ("SubAccountId", Ty::Str),
    ("SubAccountName", Ty::Str),
    ("Tags", Ty::StrMap),
    ("x_CostCategories", Ty::StrMap),
    ("x_Discounts", Ty::DoubleMap),
    ("x_Operation", Ty::Str),
    ("x_ServiceCode", Ty::Str),
    ("x_UsageType", Ty::Str),
];

/// The 57 FOCUS 1.2 columns and AWS's three of `FOCUS_1_2_AWS`, in the order AWS lists them.
pub(super) const FOCUS_1_2_COLUMNS: &[(&str, Ty)] = &[
    ("AvailabilityZone", Ty::Str),
    ("BilledCost", Ty::Double),
    ("BillingAccountId", Ty::Str),
    ("BillingAccountName", Ty::Str),
    ("BillingAccountType", Ty::Str),
    ("BillingCurrency", Ty::Str),
    ("BillingPeriodEnd", Ty::Timestamp),
    ("BillingPeriodStart", Ty::Timestamp),
    ("CapacityReservationId", Ty::Str),
    ("CapacityReservationStatus", Ty::Str),
    ("ChargeCategory", Ty::Str),
    ("ChargeClass", Ty::Str),
    ("ChargeDescription", Ty::Str),
    ("ChargeFrequency", Ty::Str),
    ("ChargePeriodEnd", Ty::Timestamp),
    ("ChargePeriodStart", Ty::Timestamp),
    ("CommitmentDiscountCategory", Ty::Str),
    ("CommitmentDiscountId", Ty::Str),
    ("CommitmentDiscountName", Ty::Str),
    ("CommitmentDiscountQuantity", Ty::Double),
    ("CommitmentDiscountStatus", Ty::Str),
    ("CommitmentDiscountType", Ty::Str),
    ("CommitmentDiscountUnit", Ty::Str),
    ("ConsumedQuantity", Ty::Double),
    ("ConsumedUnit", Ty::Str),
    ("ContractedCost", Ty::Double),
    ("ContractedUnitPrice", Ty::Double),
    ("EffectiveCost", Ty::Double),
    ("InvoiceId", Ty::Str),
    ("InvoiceIssuerName", Ty::Str),
    ("ListCost", Ty::Double),
    ("ListUnitPrice", Ty::Double),
    ("PricingCategory", Ty::Str),
    ("PricingCurrency", Ty::Str),
    ("PricingCurrencyContractedUnitPrice", Ty::Double),
    ("PricingCurrencyEffectiveCost", Ty::Double),
    ("PricingCurrencyListUnitPrice", Ty::Double),
    ("PricingQuantity", Ty::Double),
    ("PricingUnit", Ty::Str),
    ("ProviderName", Ty::Str),
    ("PublisherName", Ty::Str),
    ("RegionId", Ty::Str),
    ("RegionName", Ty::Str),
    ("ResourceId", Ty::Str),
    ("ResourceName", Ty::Str),
    ("ResourceType", Ty::Str),
    ("ServiceCategory", Ty::Str),
    ("ServiceName", Ty::Str),
    ("ServiceSubcategory", Ty::Str),
    ("SkuId", Ty::Str),
    ("SkuMeter", Ty::Str),
    ("SkuPriceDetails", Ty::StrMap),
    ("SkuPriceId", Ty::Str),
    ("SubAccountId", Ty::Str),
    ("SubAccountName", Ty::Str),
    ("SubAccountType", Ty::Str),
    ("Tags", Ty::StrMap),
    ("x_Discounts", Ty::DoubleMap),
    ("x_Operation", Ty::Str),
    ("x_ServiceCode", Ty::Str),
];

/// The columns of the context's FOCUS version.
fn columns(ctx: &Context) -> &'static [(&'static str, Ty)] {
    match ctx.focus_version {
        FocusVersion::V1_0 => FOCUS_COLUMNS,
        FocusVersion::V1_2 => FOCUS_1_2_COLUMNS,
    }
}

/// The manifest's column list; `typed` adds each column's type (as for Parquet).
pub(super) fn manifest_columns(version: FocusVersion, typed: bool) -> Vec<DataExportColumn> {
    match version {
        FocusVersion::V1_0 => FOCUS_COLUMNS,
        FocusVersion::V1_2 => FOCUS_1_2_COLUMNS,
    }
    .iter()
    .map(|(n, ty)| DataExportColumn {
        name: (*n).into(),
        column_type: typed.then(|| ty.manifest_type().into()),
    })
    .collect()
}

/// A scalar column's value in a row; an empty string is a null.
fn cell<'a>(column: &str, r: &'a GenRow, ctx: &'a Context) -> Cell<'a> {
    let day = |d: chrono::NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
    let (category, ctype, status) = r.kind.focus();
    match column {
        "AvailabilityZone" => Cell::S(r.az),
        "BilledCost" | "ContractedCost" => Cell::D(Some(r.unblended)),
        "BillingAccountId" => Cell::S(&r.payer),
        "BillingAccountName" => Cell::S("Costline Example Org"),
        "BillingAccountType" => Cell::S("Billing Account"),
        "SubAccountType" => Cell::S("Linked Account"),
        "SkuMeter" => Cell::S(&r.usage_type),
        "ServiceSubcategory" => Cell::S("Other (Compute)"),
        "PricingCurrency" => Cell::S("USD"),
        "PricingCurrencyEffectiveCost" => Cell::D(Some(r.amortized)),
        "PricingCurrencyListUnitPrice" | "PricingCurrencyContractedUnitPrice" => Cell::D(r.rate),
        "CommitmentDiscountQuantity" => Cell::D(None),
        "BillingCurrency" => Cell::S("USD"),
        "BillingPeriodEnd" => Cell::T(day(ctx.end)),
        "BillingPeriodStart" => Cell::T(day(ctx.start)),
        "ChargeCategory" => Cell::S(category),
        "ChargeDescription" => Cell::S(&r.description),
        "ChargeFrequency" => Cell::S(if r.kind.line_item_type().contains("Fee") {
            "Recurring"
        } else {
            "Usage-Based"
        }),
        "ChargePeriodEnd" => Cell::T(r.usage_end),
        "ChargePeriodStart" => Cell::T(r.usage_start),
        "CommitmentDiscountCategory" => Cell::S(if ctype.is_empty() { "" } else { "Spend" }),
        "CommitmentDiscountId" => Cell::S(match ctype {
            "Savings Plan" => ctx.sp_arn.as_str(),
            "Reservation" => ctx.ri_arn.as_str(),
            _ => "",
        }),
        "CommitmentDiscountStatus" => Cell::S(status),
        "CommitmentDiscountType" => Cell::S(ctype),
        "ConsumedQuantity" | "PricingQuantity" => Cell::D(Some(r.usage_amount)),
        "ConsumedUnit" | "PricingUnit" => Cell::S(r.unit),
        "EffectiveCost" => Cell::D(Some(r.amortized)),
        "InvoiceIssuerName" | "PublisherName" => Cell::S("Amazon Web Services, Inc."),
        "ListCost" => Cell::D(r.public_od),
        "ListUnitPrice" | "ContractedUnitPrice" => Cell::D(r.rate),
        "PricingCategory" => Cell::S("Standard"),
        "ProviderName" => Cell::S("AWS"),
        "RegionId" => Cell::S(r.region),
        "ResourceId" => Cell::S(&r.resource_id),
        "ServiceName" => Cell::S(r.product_name),
        "SubAccountId" => Cell::S(&r.account),
        "SubAccountName" => Cell::O(format!("Account {}", &r.account[8..])),
        "x_Operation" => Cell::S(r.operation),
        "x_ServiceCode" => Cell::S(r.product_code),
        "x_UsageType" => Cell::S(&r.usage_type),
        _ => Cell::S(""),
    }
}

/// The row's `Tags` entries (user tags as named in the console, AWS tags with their prefix, and
/// in FOCUS 1.2 a cost category, which is no resource tag); the other map columns are null on
/// every generated row.
fn map_entries<'a>(column: &str, r: &'a GenRow, ctx: &'a Context) -> Vec<(&'a str, &'a str)> {
    if column != "Tags" {
        return Vec::new();
    }
    let mut out: Vec<(&str, &str)> = r
        .tags
        .iter()
        .map(|(i, v)| (ctx.tag_names[*i].as_str(), *v))
        .collect();
    if let Some(v) = r.aws_created_by {
        out.push(("aws:createdBy", v));
    }
    if ctx.focus_version == FocusVersion::V1_2 && !out.is_empty() {
        out.push(("costCategory/BusinessUnit", "Retail"));
    }
    out
}

pub(super) fn write_csv(ctx: &Context, rows: &[GenRow], file: File) -> Result<(), CurError> {
    let mut w = csv::WriterBuilder::new().from_writer(gz(file));
    w.write_record(columns(ctx).iter().map(|(n, _)| n))
        .map_err(gen_err)?;
    let mut rec: Vec<Cow<str>> = Vec::with_capacity(columns(ctx).len());
    for r in rows {
        rec.clear();
        for (name, ty) in columns(ctx) {
            rec.push(match ty {
                Ty::StrMap | Ty::DoubleMap => {
                    let entries = map_entries(name, r, ctx);
                    if entries.is_empty() {
                        Cow::Borrowed("NULL")
                    } else {
                        let map: serde_json::Map<String, serde_json::Value> = entries
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v.into()))
                            .collect();
                        Cow::Owned(serde_json::Value::Object(map).to_string())
                    }
                }
                _ => match cell(name, r, ctx) {
                    Cell::S("") | Cell::D(None) => Cow::Borrowed("NULL"),
                    Cell::S(s) => Cow::Borrowed(s),
                    Cell::O(s) if s.is_empty() => Cow::Borrowed("NULL"),
                    Cell::O(s) => Cow::Owned(s),
                    Cell::D(Some(d)) => Cow::Owned(d.to_string()),
                    Cell::T(t) => Cow::Owned(t.format("%Y-%m-%d %H:%M:%S").to_string()),
                },
            });
        }
        w.write_record(rec.iter().map(|c| c.as_bytes()))
            .map_err(gen_err)?;
    }
    finish_gz(w.into_inner().map_err(gen_err)?)
}

fn parquet_schema(ctx: &Context) -> String {
    let mut schema = String::from("message schema {\n");
    for (name, ty) in columns(ctx) {
        let value = match ty {
            Ty::Str => {
                schema.push_str(&format!("  optional binary {name} (STRING);\n"));
                continue;
            }
            Ty::Double => {
                schema.push_str(&format!("  optional double {name};\n"));
                continue;
            }
            Ty::Timestamp => {
                schema.push_str(&format!(
                    "  optional int64 {name} (TIMESTAMP(MILLIS,true));\n"
                ));
                continue;
            }
            Ty::StrMap => "binary value (STRING)",
            Ty::DoubleMap => "double value",
        };
        schema.push_str(&format!(
            "  optional group {name} (MAP) {{\n    repeated group key_value {{\n      \
             required binary key (STRING);\n      optional {value};\n    }}\n  }}\n"
        ));
    }
    schema.push('}');
    schema
}

/// Writes the next leaf column of the row group.
fn put<T: DataType, W: Write + Send>(
    rg: &mut SerializedRowGroupWriter<'_, W>,
    vals: &[T::T],
    defs: &[i16],
    reps: Option<&[i16]>,
) -> Result<(), CurError> {
    let mut cw = rg
        .next_column()
        .map_err(gen_err)?
        .ok_or_else(|| gen_err("the FOCUS schema has fewer leaves than columns"))?;
    cw.typed::<T>()
        .write_batch(vals, Some(defs), reps)
        .map_err(gen_err)?;
    cw.close().map_err(gen_err)
}

pub(super) fn write_parquet(ctx: &Context, rows: &[GenRow], file: File) -> Result<(), CurError> {
    let mut writer = snappy_parquet_writer(&parquet_schema(ctx), file)?;
    for chunk in rows.chunks(ROW_GROUP) {
        let mut rg = writer.next_row_group().map_err(gen_err)?;
        for (name, ty) in columns(ctx) {
            let mut defs: Vec<i16> = Vec::with_capacity(chunk.len());
            match ty {
                Ty::Str => {
                    let mut vals = Vec::new();
                    for r in chunk {
                        let s = match cell(name, r, ctx) {
                            Cell::S(s) => Cow::Borrowed(s),
                            Cell::O(s) => Cow::Owned(s),
                            _ => unreachable!("{name} is a string column"),
                        };
                        defs.push(i16::from(!s.is_empty()));
                        if !s.is_empty() {
                            vals.push(ByteArray::from(s.as_bytes().to_vec()));
                        }
                    }
                    put::<ByteArrayType, _>(&mut rg, &vals, &defs, None)?;
                }
                Ty::Double => {
                    let mut vals = Vec::new();
                    for r in chunk {
                        match cell(name, r, ctx) {
                            Cell::D(Some(d)) => {
                                defs.push(1);
                                vals.push(to_f64(d));
                            }
                            Cell::D(None) => defs.push(0),
                            _ => unreachable!("{name} is a double column"),
                        }
                    }
                    put::<DoubleType, _>(&mut rg, &vals, &defs, None)?;
                }
                Ty::Timestamp => {
                    let mut vals = Vec::new();
                    for r in chunk {
                        let Cell::T(t) = cell(name, r, ctx) else {
                            unreachable!("{name} is a timestamp column")
                        };
                        defs.push(1);
                        vals.push(t.timestamp_millis());
                    }
                    put::<Int64Type, _>(&mut rg, &vals, &defs, None)?;
                }
                Ty::StrMap | Ty::DoubleMap => {
                    // Levels: a null map 0, an entry's key 2 and its (present) value 3; a row
                    // with no entries is a null map, as the CSV's `NULL`.
                    let (mut reps, mut keys, mut values) = (Vec::new(), Vec::new(), Vec::new());
                    let mut value_defs = Vec::new();
                    for r in chunk {
                        let entries = map_entries(name, r, ctx);
                        if entries.is_empty() {
                            reps.push(0);
                            defs.push(0);
                            value_defs.push(0);
                        }
                        for (j, (k, v)) in entries.into_iter().enumerate() {
                            reps.push(i16::from(j > 0));
                            defs.push(2);
                            value_defs.push(3);
                            keys.push(ByteArray::from(k));
                            values.push(ByteArray::from(v));
                        }
                    }
                    put::<ByteArrayType, _>(&mut rg, &keys, &defs, Some(&reps))?;
                    if *ty == Ty::StrMap {
                        put::<ByteArrayType, _>(&mut rg, &values, &value_defs, Some(&reps))?;
                    } else {
                        debug_assert!(values.is_empty(), "no generated row has {name}");
                        put::<DoubleType, _>(&mut rg, &[], &value_defs, Some(&reps))?;
                    }
                }
            }
        }
        rg.close().map_err(gen_err)?;
    }
    writer.close().map_err(gen_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    #[test]
    fn parquet_schema_types_columns_as_aws_does() {
        let dir = tempfile::tempdir().unwrap();
        let period = costline_domain::BillingPeriod::new(2024, 9).unwrap();
        let opts = super::super::GenerateOptions::new(
            3,
            period,
            50,
            super::super::GenFormat::FocusParquet,
        );
        let report = super::super::generate(&opts, dir.path()).unwrap();
        let file = File::open(dir.path().join(&report.data_keys[0])).unwrap();
        let reader = SerializedFileReader::new(file).unwrap();
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let top: Vec<String> = (0..schema.num_columns())
            .map(|i| schema.column(i).path().parts()[0].clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(top.len(), FOCUS_COLUMNS.len());
        let leaf = |path: &str| {
            (0..schema.num_columns())
                .map(|i| schema.column(i))
                .find(|c| c.path().string() == path)
                .unwrap_or_else(|| panic!("{path}"))
        };
        use parquet::basic::Type;
        assert_eq!(leaf("BilledCost").physical_type(), Type::DOUBLE);
        assert_eq!(leaf("ChargePeriodStart").physical_type(), Type::INT64);
        assert_eq!(leaf("SubAccountId").physical_type(), Type::BYTE_ARRAY);
        assert_eq!(leaf("Tags.key_value.value").max_rep_level(), 1);
        assert_eq!(
            leaf("x_Discounts.key_value.value").physical_type(),
            Type::DOUBLE
        );
    }
}
