"""
System B's seed batch loader on Spark, for `npm run bench -- spark-warehouse`: one date of silver
(the Parquet rtsa's silver layer wrote) into a Postgres star schema, timed.

It mirrors the seed's spark/apps/batch_loader.py (seed 004; ../shared/research/seeds-code-facts.md
A4): read the date's silver, SCD-2 on dim_user (new users appended over JDBC; users with more than
5 silver sessions that day on plan `free` get their current row closed by an UPDATE and a new
version `basic`/`silver` appended), then the facts: each event joined to the current dim_user row,
its device's dim_device row and its hour's dim_time row, written over JDBC to a temporary table,
then `INSERT … SELECT … ON CONFLICT (idempotency_key) DO NOTHING` into fact_events and the temporary
table dropped. Differences, for the benchmark (so that both engines do the same work and give one
fact per event): local[2] and a local folder instead of MinIO; rtsa's silver (one row per event,
with its own timestamp, amount and session) instead of the seed's 30-minute windows; the device
joined on its type's default row and the current users cached before the UPDATE (the seed's
fan-out and lazy re-read bugs); the seed's tables in schema `seed_wh` (DDL by the bench, with the
seed's indexes), its dim_time and dim_device read from rtsa's warehouse schema.

Prints one JSON line per milestone on stdout ({"event": "session" | "started" | "step" | "done"}),
which bench/spark/warehouse.ts reads.
"""

import argparse
import json
import time

import psycopg2
from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def emit(event, **fields):
    print(json.dumps({"event": event, "t": time.time(), **fields}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lake", required=True, help="the local lake folder (silver/events/date=...)")
    ap.add_argument("--date", required=True)
    ap.add_argument("--pg-host", required=True)
    ap.add_argument("--pg-port", required=True)
    ap.add_argument("--pg-db", required=True)
    ap.add_argument("--pg-user", required=True)
    ap.add_argument("--pg-password", required=True)
    ap.add_argument("--ivy", required=True)
    ap.add_argument("--master", default="local[2]")
    args = ap.parse_args()

    spark = (
        SparkSession.builder.appName("rtsa-bench-seed-batch-loader")
        .master(args.master)
        .config("spark.jars.packages", "org.postgresql:postgresql:42.7.14")
        .config("spark.jars.ivy", args.ivy)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    emit("session", spark=spark.version)

    url = f"jdbc:postgresql://{args.pg_host}:{args.pg_port}/{args.pg_db}"
    props = {"user": args.pg_user, "password": args.pg_password, "driver": "org.postgresql.Driver"}
    conn = psycopg2.connect(
        host=args.pg_host, port=args.pg_port, dbname=args.pg_db, user=args.pg_user, password=args.pg_password
    )
    conn.autocommit = True

    def jdbc(table):
        return spark.read.jdbc(url, table, properties=props)

    def step(name, started):
        emit("step", step=name, seconds=round(time.time() - started, 2))
        return time.time()

    started = time.time()
    emit("started")
    t = started
    events = spark.read.parquet(f"{args.lake}/silver/events/date={args.date}")
    sessions = spark.read.parquet(f"{args.lake}/silver/sessions/date={args.date}")
    events.cache()
    n_events = events.count()
    t = step("silver read", t)

    # SCD-2 on dim_user: the seed's rules, the current rows cached before the UPDATE (its bug (b)).
    current = jdbc("(SELECT user_key, user_id, plan_type, user_tier, version_number FROM seed_wh.dim_user WHERE is_current) c").cache()
    current.count()
    day_start = F.to_timestamp(F.lit(f"{args.date} 00:00:00"))
    new_users = (
        events.select("user_id").distinct().join(current, "user_id", "left_anti")
        .select(
            "user_id",
            F.lit("free").alias("plan_type"),
            F.lit("active").alias("subscription_status"),
            F.lit("bronze").alias("user_tier"),
            F.to_date(F.lit(args.date)).alias("signup_date"),
            F.lit("organic").alias("signup_source"),
            day_start.alias("effective_start_date"),
            F.lit(True).alias("is_current"),
            F.lit(1).alias("version_number"),
        )
    )
    new_users.write.jdbc(url, "seed_wh.dim_user", mode="append", properties=props)
    t = step("new users", t)

    busy = sessions.groupBy("user_id").count().where(F.col("count") > 5).select("user_id")
    upgrades = current.where(F.col("plan_type") == "free").join(busy, "user_id").cache()
    keys = [r.user_key for r in upgrades.select("user_key").collect()]
    if keys:
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE seed_wh.dim_user SET is_current = false, effective_end_date = now(), updated_at = now() "
                "WHERE user_key = ANY(%s)",
                (keys,),
            )
        (
            upgrades.select(
                "user_id",
                F.lit("basic").alias("plan_type"),
                F.lit("active").alias("subscription_status"),
                F.lit("silver").alias("user_tier"),
                F.current_timestamp().alias("effective_start_date"),
                F.lit(True).alias("is_current"),
                (F.col("version_number") + 1).alias("version_number"),
            ).write.jdbc(url, "seed_wh.dim_user", mode="append", properties=props)
        )
    t = step("user versions", t)

    # Facts: key lookups by joins, a temporary table over JDBC, then one INSERT … ON CONFLICT DO NOTHING.
    users = jdbc("(SELECT user_key, user_id FROM seed_wh.dim_user WHERE is_current) u")
    devices = jdbc("(SELECT device_key, device_type FROM warehouse.dim_device WHERE is_type_default) d")
    hours = jdbc("(SELECT time_key, full_timestamp FROM warehouse.dim_time) h")
    purchase = F.col("event_type") == "purchase"
    facts = (
        events.withColumn("hour", F.date_trunc("hour", "event_timestamp"))
        .join(F.broadcast(users), "user_id", "left")
        .join(F.broadcast(devices), "device_type", "left")
        .join(F.broadcast(hours), F.col("hour") == F.col("full_timestamp"), "left")
        .select(
            "event_id",
            "idempotency_key",
            "user_key",
            "time_key",
            "device_key",
            "event_type",
            "schema_version",
            "session_id",
            "ip_address",
            F.when(F.col("event_type") == "page_view", 1).otherwise(0).alias("page_view_count"),
            F.when(purchase, F.coalesce(F.col("total_amount"), F.lit(0))).otherwise(0).cast("decimal(12,2)").alias("purchase_amount"),
            F.when(purchase, F.coalesce(F.col("quantity"), F.lit(1))).otherwise(0).alias("purchase_quantity"),
            purchase.alias("is_conversion"),
            (F.col("event_type") == "payment_failed").alias("is_error"),
            F.col("payload").alias("payload_json"),
            "event_timestamp",
            F.lit(1.0).cast("decimal(3,2)").alias("data_quality_score"),
        )
    )
    temp = f"seed_wh.temp_fact_events_{args.date.replace('-', '')}"
    facts.write.jdbc(url, temp, mode="overwrite", properties=props)
    t = step("temp table written", t)
    columns = (
        "event_id, idempotency_key, user_key, time_key, device_key, event_type, schema_version, session_id, "
        "ip_address, page_view_count, purchase_amount, purchase_quantity, is_conversion, is_error, payload_json, "
        "event_timestamp, data_quality_score"
    )
    with conn.cursor() as cur:
        cur.execute(
            f"INSERT INTO seed_wh.fact_events ({columns}) "
            f"SELECT {columns.replace('payload_json', 'payload_json::jsonb')} FROM {temp} "
            "ON CONFLICT (idempotency_key) DO NOTHING"
        )
        inserted = cur.rowcount
        cur.execute(f"DROP TABLE {temp}")
    t = step("facts inserted", t)
    emit("done", events=n_events, facts=inserted, new_users=new_users.count(), upgrades=len(keys))
    conn.close()
    spark.stop()


if __name__ == "__main__":
    main()
