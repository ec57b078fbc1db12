"""Benchmark peers for `make bench` (crates/cur/benches/cur_parse.rs runs this).

The same question Costline answers from a legacy CUR delivery: unblended cost per UTC usage
day, usage account and product code, summed over every line item of the given CSV gzip files.

    peers.py ENGINE THREADS FILE...     ENGINE: duckdb | polars; THREADS: a number or "all"

Prints one JSON line: engine, threads, seconds (query only: after imports, before printing),
groups, and total (the sum over all groups, as a decimal string when the engine sums exactly).
"""

import json
import os
import sys
import time

DAY = "lineItem/UsageStartDate"
ACCOUNT = "lineItem/UsageAccountId"
SERVICE = "lineItem/ProductCode"
COST = "lineItem/UnblendedCost"


def run_duckdb(threads, files):
    import duckdb

    con = duckdb.connect()
    if threads != "all":
        con.execute(f"SET threads = {int(threads)}")
    used = con.execute("SELECT current_setting('threads')").fetchone()[0]
    # all_varchar: no type sniffing surprises; DECIMAL(38, 10) sums exactly (CUR has at most
    # 10 decimals), as Costline does.
    query = f"""
        SELECT CAST(substr("{DAY}", 1, 10) AS DATE) AS day, "{ACCOUNT}" AS account,
               "{SERVICE}" AS service, sum(CAST("{COST}" AS DECIMAL(38, 10))) AS unblended
          FROM read_csv($files, header = true, all_varchar = true, compression = 'gzip')
         GROUP BY ALL
    """
    start = time.perf_counter()
    rows = con.execute(query, {"files": files}).fetchall()
    seconds = time.perf_counter() - start
    total = sum((r[3] for r in rows), start=type(rows[0][3])(0))
    return used, seconds, len(rows), str(total.normalize() if hasattr(total, "normalize") else total)


def run_polars(threads, files):
    if threads != "all":
        os.environ["POLARS_MAX_THREADS"] = str(int(threads))
    import polars as pl

    used = pl.thread_pool_size()
    start = time.perf_counter()
    # Polars reads gzip CSV by decompressing each file in memory first (no streaming gzip).
    frames = [
        pl.read_csv(f, columns=[DAY, ACCOUNT, SERVICE, COST], infer_schema=False)
        for f in files
    ]
    df = pl.concat(frames)
    out = (
        df.lazy()
        .with_columns(
            pl.col(DAY).str.slice(0, 10).str.to_date("%Y-%m-%d").alias("day"),
            pl.col(COST).cast(pl.Float64).alias("unblended"),
        )
        .group_by(["day", ACCOUNT, SERVICE])
        .agg(pl.col("unblended").sum())
        .collect()
    )
    seconds = time.perf_counter() - start
    total = out["unblended"].sum()
    # Float64: polars cannot cast CUR's scientific-notation strings to Decimal; the total is
    # approximate, and shown as such.
    return used, seconds, out.height, f"~{total:.6f}"


def main():
    engine, threads, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    runner = {"duckdb": run_duckdb, "polars": run_polars}[engine]
    used, seconds, groups, total = runner(threads, files)
    print(json.dumps({"engine": engine, "threads": int(used), "seconds": seconds,
                      "groups": groups, "total": total}))


if __name__ == "__main__":
    main()
