"""
System B's seed streaming job on Spark, for `npm run bench -- spark-lake`: Kafka -> bronze Parquet,
then bronze -> silver Parquet (+ dead letters), each phase alone and timed.

It mirrors the seed's spark/apps/streaming_job.py (seed 004; ../shared/research/seeds-code-facts.md
A2): the same parse schema (payload as map<string,string>), bronze partitioned by date and
event_type with the raw value kept, silver reading bronze as a file stream, validating the five
fields into a dead-letter folder, a 10-minute watermark, dedup on idempotency_key, 30-minute
windows per user, partitioned by date; the seed's triggers (10 s, 30 s), shuffle partitions 3.
Differences, for the benchmark: local[2] and local folders instead of MinIO, the topic read from
`earliest` (it is pre-filled), ANSI mode off (the seed ran Spark 3.3, where an unparsable
timestamp is null rather than an error), and each phase stops once all its input is committed.

Prints one JSON line per milestone on stdout ({"event": "session" | "started" | "progress" |
"done"}, with "phase": "bronze" | "silver"), which bench/spark/lake.ts reads.
"""

import argparse
import json
import os
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import MapType, StringType, StructField, StructType, TimestampType

EVENT_FIELDS = [
    "event_id",
    "user_id",
    "timestamp",
    "event_type",
    "schema_version",
    "idempotency_key",
    "device_type",
    "ip_address",
    "user_agent",
]
EVENT_SCHEMA = StructType(
    [StructField(f, StringType(), True) for f in EVENT_FIELDS]
    + [
        StructField("geo_location", MapType(StringType(), StringType()), True),
        StructField("payload", MapType(StringType(), StringType()), True),
    ]
)
# Bronze as silver reads it: the explicit schema of the seed (date read as a string).
BRONZE_SCHEMA = StructType(
    [
        StructField("kafka_key", StringType(), True),
        StructField("kafka_timestamp", TimestampType(), True),
        StructField("raw_value", StringType(), True),
    ]
    + list(EVENT_SCHEMA.fields)
    + [StructField("ingestion_time", TimestampType(), True), StructField("date", StringType(), True)]
)


def emit(event, **fields):
    print(json.dumps({"event": event, "t": time.time(), **fields}), flush=True)


def committed_rows(query):
    """Input rows of every micro-batch reported so far (a report comes after the batch's commit)."""
    return sum(p["numInputRows"] for p in query.recentProgress)


def end_offset(progress):
    """The end offset of a progress report's (only) source, as a dict."""
    end = progress["sources"][0].get("endOffset")
    return json.loads(end) if isinstance(end, str) else (end or {})


def committed_log_offset(query):
    """How far a file-stream query has committed into the bronze sink's log (-1: not started).

    Rows are no measure: filters pushed into the Parquet scan skip whole row groups, so a query
    may count fewer input rows than bronze holds.
    """
    last = query.lastProgress
    return -1 if last is None else int(end_offset(last).get("logOffset", -1))


def wait_until(phase, queries, done):
    """Polls the queries' progress until done(); emits progress lines; fails fast on a query error."""
    seen = {}
    while True:
        for q in queries:
            if q.exception() is not None:
                emit("failed", phase=phase, error=str(q.exception()))
                sys.exit(1)
            last = q.lastProgress
            if last is not None and seen.get(q.name) != last["batchId"]:
                seen[q.name] = last["batchId"]
                emit("progress", phase=phase, query=q.name, batch=last["batchId"], rows=last["numInputRows"])
        if done():
            return
        time.sleep(0.05)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--events", type=int, required=True, help="records in the topic")
    p.add_argument("--lake", required=True, help="folder for bronze/, silver/, dead-letter-queue/, checkpoints/")
    p.add_argument("--ivy", required=True)
    p.add_argument("--master", default="local[2]")
    args = p.parse_args()
    lake = args.lake

    spark = (
        SparkSession.builder.appName("rtsa-bench-seed-lake-job")
        .master(args.master)
        .config("spark.jars.packages", "org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0")
        .config("spark.jars.ivy", args.ivy)
        .config("spark.sql.shuffle.partitions", "3")
        .config("spark.sql.ansi.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    emit("session", spark=spark.version)

    # Bronze: every record, its raw value kept, parsed fields (null when the JSON does not parse).
    raw = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", args.brokers)
        .option("subscribe", args.topic)
        .option("startingOffsets", "earliest")
        .option("failOnDataLoss", "false")
        .load()
    )
    bronze = (
        raw.select(
            F.col("key").cast("string").alias("kafka_key"),
            F.col("timestamp").alias("kafka_timestamp"),
            F.col("value").cast("string").alias("raw_value"),
        )
        .withColumn("e", F.from_json(F.col("raw_value"), EVENT_SCHEMA))
        .select("kafka_key", "kafka_timestamp", "raw_value", "e.*")
        .withColumn("date", F.to_date(F.col("timestamp")))
        .withColumn("ingestion_time", F.current_timestamp())
    )
    bronze_query = (
        bronze.writeStream.format("parquet")
        .outputMode("append")
        .option("path", os.path.join(lake, "bronze", "events"))
        .option("checkpointLocation", os.path.join(lake, "checkpoints", "events_bronze"))
        .partitionBy("date", "event_type")
        .trigger(processingTime="10 seconds")
        .queryName("bronze")
        .start()
    )
    emit("started", phase="bronze")

    def bronze_committed():
        last = bronze_query.lastProgress
        if last is None:
            return False
        return sum(sum(partitions.values()) for partitions in end_offset(last).values()) >= args.events

    wait_until("bronze", [bronze_query], bronze_committed)
    # The file sink logs one entry per micro-batch, under the batch's id.
    bronze_last_batch = bronze_query.lastProgress["batchId"]
    emit("done", phase="bronze", rows=committed_rows(bronze_query))
    bronze_query.stop()

    # Silver: bronze as a file stream -> dead letters, and deduplicated 30-minute windows per user.
    bronze_in = spark.readStream.schema(BRONZE_SCHEMA).parquet(os.path.join(lake, "bronze", "events"))
    valid_rule = (
        F.col("event_id").isNotNull()
        & F.col("user_id").isNotNull()
        & F.col("timestamp").isNotNull()
        & F.col("event_type").isNotNull()
        & F.col("idempotency_key").isNotNull()
    )
    dlq = (
        bronze_in.filter(~valid_rule)
        .withColumn("dlq_reason", F.lit("schema_validation_failed"))
        .withColumn("dlq_timestamp", F.current_timestamp())
    )
    windows = (
        bronze_in.filter(valid_rule)
        .withColumn("event_timestamp", F.to_timestamp(F.col("timestamp")))
        .withWatermark("event_timestamp", "10 minutes")
        .dropDuplicates(["idempotency_key"])
        .groupBy(F.col("user_id"), F.window(F.col("event_timestamp"), "30 minutes"))
        .agg(
            F.count("*").alias("event_count"),
            F.min("event_timestamp").alias("session_start"),
            F.max("event_timestamp").alias("session_end"),
            F.collect_list("event_type").alias("event_types"),
            F.collect_list("event_id").alias("event_ids"),
            F.first("device_type").alias("primary_device"),
            F.first("ip_address").alias("primary_ip"),
            F.first("geo_location").alias("primary_geo"),
        )
        .select(
            "user_id",
            F.col("window.start").alias("window_start"),
            F.col("window.end").alias("window_end"),
            "event_count",
            "session_start",
            "session_end",
            "event_types",
            "event_ids",
            "primary_device",
            "primary_ip",
            "primary_geo",
            F.current_timestamp().alias("processed_at"),
        )
        .withColumn("date", F.to_date(F.col("window_start")))
    )
    dlq_query = (
        dlq.writeStream.format("parquet")
        .outputMode("append")
        .option("path", os.path.join(lake, "dead-letter-queue", "events"))
        .option("checkpointLocation", os.path.join(lake, "checkpoints", "events_dlq"))
        .trigger(processingTime="30 seconds")
        .queryName("dlq")
        .start()
    )
    silver_query = (
        windows.writeStream.format("parquet")
        .outputMode("append")
        .option("path", os.path.join(lake, "silver", "events"))
        .option("checkpointLocation", os.path.join(lake, "checkpoints", "events_silver"))
        .partitionBy("date")
        .trigger(processingTime="30 seconds")
        .queryName("silver")
        .start()
    )
    emit("started", phase="silver")
    # Silver is done once both queries have committed all of bronze and the windows query has also
    # run the next micro-batch: the one in which the watermark, moved by that input, closes and
    # writes the windows (append mode writes a window only once the watermark has passed its end).
    fed = {}

    def silver_done():
        if committed_log_offset(dlq_query) < bronze_last_batch:
            return False
        last = silver_query.lastProgress
        if committed_log_offset(silver_query) < bronze_last_batch:
            return False
        fed.setdefault("batch", last["batchId"])
        return last["batchId"] > fed["batch"]

    wait_until("silver", [dlq_query, silver_query], silver_done)
    emit("done", phase="silver")
    dlq_query.stop()
    silver_query.stop()
    # Outside the timing: what the layers hold (batch reads, through each sink's log).
    def rows(folder):
        try:
            return spark.read.parquet(os.path.join(lake, folder, "events")).count()
        except Exception:  # nothing written: no schema to infer
            return 0

    emit("counts", bronze=rows("bronze"), silver_windows=rows("silver"), dead_letters=rows("dead-letter-queue"))
    spark.stop()


if __name__ == "__main__":
    main()
