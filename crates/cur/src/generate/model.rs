//! The generated line items and the totals they add up to.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use super::{ExpectedTotals, FocusVersion, GenFormat, GenerateOptions, Granularity};
use crate::source::{focus_line_item_type, Commitment};

/// User tag names, legacy spelling; `Team` first. More columns get `Label<N>`.
pub const TAG_NAMES: &[&str] = &[
    "Team",
    "CostCenter",
    "Environment",
    "Project",
    "Owner",
    "Application",
    "Name",
    "DataClassification",
];

const TEAMS: &[&str] = &[
    "platform",
    "données-équipe",
    "数据平台",
    "payments, \"core\"",
    "🚀 launch",
    "ml",
];

const OTHER_VALUES: &[&str] = &[
    "prod",
    "staging",
    "cc-1042",
    "alice@example.com",
    "Ünïcödé",
    "a,b",
    "x\"y",
];

struct Product {
    code: &'static str,
    name: &'static str,
    usage: &'static str,
    operation: &'static str,
    unit: &'static str,
    /// Rate in units of 1e-9 USD.
    rate_nanos: i64,
}

const PRODUCTS: &[Product] = &[
    Product {
        code: "AmazonEC2",
        name: "Amazon Elastic Compute Cloud",
        usage: "BoxUsage:m5.large",
        operation: "RunInstances",
        unit: "Hrs",
        rate_nanos: 96_000_000,
    },
    Product {
        code: "AmazonEC2",
        name: "Amazon Elastic Compute Cloud",
        usage: "EBS:VolumeUsage.gp3",
        operation: "CreateVolume-Gp3",
        unit: "GB-Mo",
        rate_nanos: 80_000_000,
    },
    Product {
        code: "AmazonS3",
        name: "Amazon Simple Storage Service",
        usage: "TimedStorage-ByteHrs",
        operation: "StandardStorage",
        unit: "GB-Mo",
        rate_nanos: 23_000_000,
    },
    Product {
        code: "AmazonS3",
        name: "Amazon Simple Storage Service",
        usage: "Requests-Tier1",
        operation: "PutObject",
        unit: "Requests",
        rate_nanos: 5_000,
    },
    Product {
        code: "AmazonRDS",
        name: "Amazon Relational Database Service",
        usage: "InstanceUsage:db.r6g.large",
        operation: "CreateDBInstance:0016",
        unit: "Hrs",
        rate_nanos: 250_000_000,
    },
    Product {
        code: "AWSLambda",
        name: "AWS Lambda",
        usage: "Lambda-GB-Second",
        operation: "Invoke",
        unit: "Lambda-GB-Second",
        rate_nanos: 16_667,
    },
    Product {
        code: "AmazonDynamoDB",
        name: "Amazon DynamoDB",
        usage: "ReadRequestUnits",
        operation: "GetItem",
        unit: "ReadRequestUnits",
        rate_nanos: 250,
    },
    Product {
        code: "AmazonCloudWatch",
        name: "AmazonCloudWatch",
        usage: "CW:MetricMonitorUsage",
        operation: "MetricStorage",
        unit: "Metrics",
        rate_nanos: 300_000_000,
    },
    Product {
        code: "AWSDataTransfer",
        name: "AWS Data Transfer",
        usage: "DataTransfer-Out-Bytes",
        operation: "",
        unit: "GB",
        rate_nanos: 90_000_000,
    },
    Product {
        code: "AmazonVPC",
        name: "Amazon Virtual Private Cloud",
        usage: "NatGateway-Hours",
        operation: "NatGateway",
        unit: "Hrs",
        rate_nanos: 45_000_000,
    },
];

const REGIONS: &[(&str, &str, &str)] = &[
    ("us-east-1", "USE1-", "us-east-1a"),
    ("eu-west-1", "EU-", "eu-west-1b"),
    ("ap-northeast-1", "APN1-", "ap-northeast-1c"),
    ("ca-central-1", "CAN1-", "ca-central-1a"),
];

/// What a generated row stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Usage,
    SpCovered,
    SpNegation,
    RiDiscounted,
    RiFee,
    RiUpfrontFee,
    SpRecurringFee,
    SpUpfrontFee,
    Credit,
    Tax,
    EdpDiscount,
    Refund,
}

impl Kind {
    pub(crate) fn line_item_type(&self) -> &'static str {
        match self {
            Kind::Usage => "Usage",
            Kind::SpCovered => "SavingsPlanCoveredUsage",
            Kind::SpNegation => "SavingsPlanNegation",
            Kind::RiDiscounted => "DiscountedUsage",
            Kind::RiFee => "RIFee",
            Kind::RiUpfrontFee => "Fee",
            Kind::SpRecurringFee => "SavingsPlanRecurringFee",
            Kind::SpUpfrontFee => "SavingsPlanUpfrontFee",
            Kind::Credit => "Credit",
            Kind::Tax => "Tax",
            Kind::EdpDiscount => "EdpDiscount",
            Kind::Refund => "Refund",
        }
    }

    /// FOCUS (ChargeCategory, CommitmentDiscountType, CommitmentDiscountStatus) for the kind.
    pub(crate) fn focus(&self) -> (&'static str, &'static str, &'static str) {
        match self {
            Kind::Usage => ("Usage", "", ""),
            Kind::SpCovered => ("Usage", "Savings Plan", "Used"),
            Kind::SpNegation => ("Adjustment", "Savings Plan", ""),
            Kind::RiDiscounted => ("Usage", "Reservation", "Used"),
            Kind::RiFee => ("Usage", "Reservation", "Unused"),
            Kind::RiUpfrontFee => ("Purchase", "Reservation", ""),
            Kind::SpRecurringFee => ("Usage", "Savings Plan", "Unused"),
            Kind::SpUpfrontFee => ("Purchase", "Savings Plan", ""),
            Kind::Credit | Kind::EdpDiscount => ("Credit", "", ""),
            Kind::Tax => ("Tax", "", ""),
            Kind::Refund => ("Adjustment", "", ""),
        }
    }
}

pub(crate) struct Context {
    pub(crate) start: NaiveDate,
    pub(crate) end: NaiveDate,
    pub(crate) days: i64,
    pub(crate) payer: String,
    pub(crate) accounts: Vec<String>,
    pub(crate) assembly_id: String,
    pub(crate) tag_names: Vec<String>,
    pub(crate) sp_arn: String,
    pub(crate) ri_arn: String,
    pub(crate) granularity: Granularity,
    pub(crate) focus_version: FocusVersion,
}

fn hex_id(rng: &mut ChaCha8Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap())
        .collect()
}

impl Context {
    pub(crate) fn new(opts: &GenerateOptions, rng: &mut ChaCha8Rng) -> Context {
        let start = opts.period.start();
        let end = opts.period.end();
        let accounts: Vec<String> = if opts.account_ids.is_empty() {
            (0..opts.accounts)
                .map(|_| {
                    format!(
                        "{:012}",
                        rng.random_range(100_000_000_000u64..999_999_999_999)
                    )
                })
                .collect()
        } else {
            opts.account_ids.clone()
        };
        let assembly_id = format!(
            "{}-{}-{}-{}-{}",
            hex_id(rng, 8),
            hex_id(rng, 4),
            hex_id(rng, 4),
            hex_id(rng, 4),
            hex_id(rng, 12)
        );
        let tag_names = (0..opts.tag_columns.max(4))
            .map(|i| match TAG_NAMES.get(i) {
                Some(n) => (*n).to_owned(),
                None => format!("Label{i}"),
            })
            .collect();
        let payer = opts
            .payer_account_id
            .clone()
            .unwrap_or_else(|| accounts[0].clone());
        Context {
            start,
            end,
            days: (end - start).num_days(),
            sp_arn: format!(
                "arn:aws:savingsplans::{payer}:savingsplan/{}",
                hex_id(rng, 32)
            ),
            ri_arn: format!(
                "arn:aws:ec2:us-east-1:{payer}:reserved-instances/{}",
                hex_id(rng, 32)
            ),
            payer,
            accounts,
            assembly_id,
            tag_names,
            granularity: opts.granularity,
            focus_version: opts.focus_version,
        }
    }
}

/// One generated line item with every column value the writers need.
#[derive(Debug, Clone)]
pub(crate) struct GenRow {
    pub(crate) id: String,
    pub(crate) kind: Kind,
    pub(crate) usage_start: DateTime<Utc>,
    pub(crate) usage_end: DateTime<Utc>,
    pub(crate) payer: String,
    pub(crate) account: String,
    pub(crate) product_code: &'static str,
    pub(crate) product_name: &'static str,
    pub(crate) usage_type: String,
    pub(crate) operation: &'static str,
    pub(crate) region: &'static str,
    pub(crate) az: &'static str,
    pub(crate) resource_id: String,
    pub(crate) usage_amount: Decimal,
    pub(crate) unit: &'static str,
    pub(crate) rate: Option<Decimal>,
    pub(crate) unblended: Decimal,
    pub(crate) net_unblended: Decimal,
    pub(crate) public_od: Option<Decimal>,
    pub(crate) description: String,
    pub(crate) sp_arn: &'static str,
    pub(crate) sp_eff: Option<Decimal>,
    pub(crate) sp_net_eff: Option<Decimal>,
    pub(crate) sp_total_commit: Option<Decimal>,
    pub(crate) sp_used_commit: Option<Decimal>,
    pub(crate) sp_amort_upfront: Option<Decimal>,
    pub(crate) sp_net_amort_upfront: Option<Decimal>,
    pub(crate) sp_recurring: Option<Decimal>,
    pub(crate) ri_arn: bool,
    pub(crate) ri_eff: Option<Decimal>,
    pub(crate) ri_net_eff: Option<Decimal>,
    pub(crate) ri_unused_amort: Option<Decimal>,
    pub(crate) ri_net_unused_amort: Option<Decimal>,
    pub(crate) ri_unused_rec: Option<Decimal>,
    pub(crate) ri_net_unused_rec: Option<Decimal>,
    /// (tag index into `Context::tag_names`, value).
    pub(crate) tags: Vec<(usize, &'static str)>,
    /// The `aws:createdBy` tag, which readers must drop.
    pub(crate) aws_created_by: Option<&'static str>,
    pub(crate) amortized: Decimal,
    pub(crate) net_amortized: Decimal,
}

fn money(rng: &mut ChaCha8Rng, max_cents: i64) -> Decimal {
    // Ten decimal places, like CUR.
    Decimal::new(rng.random_range(1..max_cents * 100_000_000), 10)
}

fn net(d: Decimal) -> Decimal {
    // Exactly 5% off (scale grows by 2), so net ratios stay exact.
    d * Decimal::new(95, 2)
}

impl GenRow {
    pub(crate) fn new(ctx: &Context, i: usize, rng: &mut ChaCha8Rng) -> GenRow {
        let roll = rng.random_range(0..1000);
        let kind = match roll {
            0..=639 => Kind::Usage,
            640..=699 => Kind::SpCovered,
            700..=759 => Kind::SpNegation,
            760..=799 => Kind::RiDiscounted,
            800..=819 => Kind::RiFee,
            820..=829 => Kind::RiUpfrontFee,
            830..=839 => Kind::SpRecurringFee,
            840..=844 => Kind::SpUpfrontFee,
            845..=874 => Kind::Credit,
            875..=934 => Kind::Tax,
            935..=949 => Kind::EdpDiscount,
            950..=959 => Kind::Refund,
            _ => Kind::Usage,
        };
        let product = match kind {
            Kind::SpCovered | Kind::SpNegation | Kind::SpRecurringFee | Kind::SpUpfrontFee => {
                &PRODUCTS[if rng.random_bool(0.7) { 0 } else { 5 }]
            }
            Kind::RiDiscounted | Kind::RiFee | Kind::RiUpfrontFee => {
                &PRODUCTS[if rng.random_bool(0.5) { 0 } else { 4 }]
            }
            _ => &PRODUCTS[rng.random_range(0..PRODUCTS.len())],
        };
        let (region, prefix, az) = REGIONS[rng.random_range(0..REGIONS.len())];
        let account = ctx.accounts[rng.random_range(0..ctx.accounts.len())].clone();
        let day = rng.random_range(0..ctx.days);
        let day_start = (ctx.start + Duration::days(day))
            .and_time(NaiveTime::MIN)
            .and_utc();
        let month_span = matches!(kind, Kind::Tax | Kind::RiUpfrontFee | Kind::SpUpfrontFee);
        let month = (
            ctx.start.and_time(NaiveTime::MIN).and_utc(),
            ctx.end.and_time(NaiveTime::MIN).and_utc(),
        );
        let (usage_start, usage_end) = match ctx.granularity {
            _ if month_span => month,
            Granularity::Monthly => month,
            Granularity::Daily => (day_start, day_start + Duration::days(1)),
            // The hour from the row number: the random stream stays that of a daily report.
            Granularity::Hourly => {
                let start = day_start + Duration::hours((i % 24) as i64);
                (start, start + Duration::hours(1))
            }
        };
        // Usage: amount (6 places) x rate, rounded to 10 places; now and then a tiny amount so
        // the cost is written in scientific notation.
        let amount = if rng.random_bool(0.05) {
            Decimal::new(rng.random_range(1..50), 0)
        } else {
            Decimal::new(rng.random_range(1..50_000_000), 6)
        };
        let rate = Decimal::new(product.rate_nanos, 9);
        let od_cost = (amount * rate).round_dp(10);
        let usage_type = format!("{prefix}{}", product.usage);
        let mut row = GenRow {
            id: format!("{}{:08x}", hex_id(rng, 44), i),
            kind,
            usage_start,
            usage_end,
            payer: ctx.payer.clone(),
            account,
            product_code: product.code,
            product_name: product.name,
            usage_type,
            operation: product.operation,
            region,
            az: if product.code == "AmazonEC2" { az } else { "" },
            resource_id: String::new(),
            usage_amount: amount,
            unit: product.unit,
            rate: Some(rate),
            unblended: od_cost,
            net_unblended: Decimal::ZERO,
            public_od: Some(od_cost),
            description: format!(
                "${} per {} {}, \"{}\" in {region}",
                rate.normalize(),
                product.unit,
                product.usage,
                product.operation
            ),
            sp_arn: "",
            sp_eff: None,
            sp_net_eff: None,
            sp_total_commit: None,
            sp_used_commit: None,
            sp_amort_upfront: None,
            sp_net_amort_upfront: None,
            sp_recurring: None,
            ri_arn: false,
            ri_eff: None,
            ri_net_eff: None,
            ri_unused_amort: None,
            ri_net_unused_amort: None,
            ri_unused_rec: None,
            ri_net_unused_rec: None,
            tags: Vec::new(),
            aws_created_by: None,
            amortized: Decimal::ZERO,
            net_amortized: Decimal::ZERO,
        };
        let mut net_amortized = None;
        match kind {
            Kind::Usage => {
                if roll < 960 || rng.random_bool(0.5) {
                    row.resource_id = match product.code {
                        "AmazonEC2" => format!("i-0{}", hex_id(rng, 16)),
                        "AmazonS3" => format!("costline-bucket-{}", rng.random_range(1..20)),
                        _ => format!(
                            "arn:aws:{}:{region}:{}:res/{}",
                            product.code.to_lowercase(),
                            row.account,
                            hex_id(rng, 8)
                        ),
                    };
                }
                row.amortized = row.unblended;
            }
            Kind::SpCovered => {
                let eff = (od_cost * Decimal::new(72, 2)).round_dp(10);
                row.sp_arn = "sp";
                row.sp_eff = Some(eff);
                row.sp_net_eff = Some(net(eff));
                row.amortized = eff;
                net_amortized = Some(net(eff));
                row.description = format!(
                    "Savings Plan covered usage of {} {}",
                    product.usage, product.unit
                );
            }
            Kind::SpNegation => {
                row.sp_arn = "sp";
                row.unblended = -od_cost;
                row.amortized = Decimal::ZERO;
                net_amortized = Some(Decimal::ZERO);
                row.description = format!(
                    "SavingsPlanNegation used by AccountId : {} and UsageSku : {}",
                    row.account,
                    hex_id(rng, 16).to_uppercase()
                );
            }
            Kind::RiDiscounted => {
                let eff = (od_cost * Decimal::new(6, 1)).round_dp(10);
                row.ri_arn = true;
                row.unblended = Decimal::ZERO;
                row.ri_eff = Some(eff);
                row.ri_net_eff = Some(net(eff));
                row.amortized = eff;
                net_amortized = Some(net(eff));
                row.description = format!("{} reserved instance applied", product.usage);
            }
            Kind::RiFee => {
                let fee = money(rng, 2000);
                let unused_amort = (fee * Decimal::new(rng.random_range(0..40), 2)).round_dp(10);
                let unused_rec = (fee * Decimal::new(rng.random_range(0..30), 2)).round_dp(10);
                row.ri_arn = true;
                row.unblended = fee;
                row.ri_unused_amort = Some(unused_amort);
                row.ri_net_unused_amort = Some(net(unused_amort));
                row.ri_unused_rec = Some(unused_rec);
                row.ri_net_unused_rec = Some(net(unused_rec));
                row.amortized = unused_amort + unused_rec;
                net_amortized = Some(net(unused_amort) + net(unused_rec));
                row.usage_amount = Decimal::new(24, 0);
                row.description = "Recurring fee for reserved instances, partial upfront".into();
            }
            Kind::RiUpfrontFee => {
                row.ri_arn = true;
                row.unblended = money(rng, 100_000);
                row.amortized = Decimal::ZERO;
                net_amortized = Some(Decimal::ZERO);
                row.usage_amount = Decimal::ONE;
                row.description = "Sign up charge for subscription, upfront".into();
            }
            Kind::SpRecurringFee => {
                let total = money(rng, 5000);
                let upfront = (total * Decimal::new(rng.random_range(0..50), 2)).round_dp(10);
                let used = (total * Decimal::new(rng.random_range(50..101), 2)).round_dp(10);
                row.sp_arn = "sp";
                row.unblended = total;
                row.sp_total_commit = Some(total);
                row.sp_used_commit = Some(used);
                row.sp_amort_upfront = Some(upfront);
                row.sp_net_amort_upfront = Some(net(upfront));
                row.sp_recurring = Some(total - upfront);
                row.amortized = total - used;
                net_amortized = Some(net(total - used));
                row.description = "Savings Plans recurring fee, 1 year, \"no upfront\"".into();
            }
            Kind::SpUpfrontFee => {
                row.sp_arn = "sp";
                row.unblended = money(rng, 100_000);
                row.amortized = Decimal::ZERO;
                net_amortized = Some(Decimal::ZERO);
                row.description = "Savings Plans upfront fee".into();
            }
            Kind::Credit | Kind::EdpDiscount | Kind::Refund => {
                row.unblended = -money(rng, 500);
                row.amortized = row.unblended;
                if kind == Kind::EdpDiscount {
                    net_amortized = Some(Decimal::ZERO);
                }
                row.description = match kind {
                    Kind::Credit => "AWS Promotional Credit, \"startup\" program".into(),
                    Kind::EdpDiscount => "Enterprise Discount Program Discount".into(),
                    _ => "Refund for service credit, see case 12345".into(),
                };
            }
            Kind::Tax => {
                row.unblended = money(rng, 300);
                row.amortized = row.unblended;
                row.usage_type = String::new();
                row.operation = "";
                row.region = "";
                row.az = "";
                row.rate = None;
                row.public_od = None;
                row.usage_amount = Decimal::ONE;
                row.description = format!("Tax for product code {}", product.code);
            }
        }
        if matches!(
            kind,
            Kind::Credit
                | Kind::EdpDiscount
                | Kind::Refund
                | Kind::Tax
                | Kind::SpUpfrontFee
                | Kind::RiUpfrontFee
        ) {
            row.rate = None;
            row.public_od = None;
        }
        row.net_unblended = net(row.unblended);
        row.net_amortized = net_amortized.unwrap_or(row.net_unblended);
        if matches!(kind, Kind::Usage | Kind::SpCovered | Kind::RiDiscounted) {
            if rng.random_bool(0.6) {
                row.tags.push((0, TEAMS[rng.random_range(0..TEAMS.len())]));
            }
            for t in 1..ctx.tag_names.len() {
                if rng.random_bool(0.25) {
                    row.tags
                        .push((t, OTHER_VALUES[rng.random_range(0..OTHER_VALUES.len())]));
                }
            }
            if rng.random_bool(0.3) {
                row.aws_created_by = Some("IAMUser:AIDAEXAMPLE:alice");
            }
        }
        row
    }

    pub(crate) fn tag(&self, index: usize) -> Option<&'static str> {
        self.tags.iter().find(|(i, _)| *i == index).map(|(_, v)| *v)
    }

    /// The line item type the parser reports for this row in a format.
    pub(crate) fn normalized_type(&self, format: GenFormat) -> &'static str {
        if format.is_focus() {
            let (cat, ctype, status) = self.kind.focus();
            let c = match ctype {
                "Savings Plan" => Commitment::SavingsPlan,
                "Reservation" => Commitment::Reservation,
                _ => Commitment::None,
            };
            focus_line_item_type(cat, c, status)
        } else {
            self.kind.line_item_type()
        }
    }
}

pub(crate) fn expected(rows: &[GenRow], format: GenFormat) -> ExpectedTotals {
    let focus = format.is_focus();
    let mut e = ExpectedTotals {
        rows: rows.len() as u64,
        net_unblended: (!focus).then_some(Decimal::ZERO),
        net_amortized: (!focus).then_some(Decimal::ZERO),
        ..Default::default()
    };
    let mut by_day: BTreeMap<(NaiveDate, String, String), Decimal> = BTreeMap::new();
    for r in rows {
        e.unblended += r.unblended;
        e.amortized += r.amortized;
        if let Some(n) = e.net_unblended.as_mut() {
            *n += r.net_unblended;
        }
        if let Some(n) = e.net_amortized.as_mut() {
            *n += r.net_amortized;
        }
        *by_day
            .entry((
                r.usage_start.date_naive(),
                r.account.clone(),
                r.product_code.to_owned(),
            ))
            .or_default() += r.unblended;
        *e.by_line_item_type
            .entry(r.normalized_type(format).to_owned())
            .or_default() += r.unblended;
        if let Some(team) = r.tag(0) {
            *e.by_team.entry(team.to_owned()).or_default() += r.unblended;
        }
    }
    e.by_day_account_service = by_day;
    e
}
