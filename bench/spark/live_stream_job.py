"""
System A's seed job on Spark, for `npm run bench -- spark`: Kafka -> 1-minute event-time windows
per stream (10-minute watermark, update mode) -> foreachBatch upsert into Postgres.

It mirrors the seed's streaming job (seeds 000-003, services/stream-processor/spark_streaming_job.py;
see ../shared/research/seeds-code-facts.md B2): the same parse schema, the same event-time rule, the
same aggregates, no trigger (micro-batches back to back), the rows of each batch collected on the
driver and upserted with psycopg2 into the seed's two tables (stream_state per stream, then
stream_metrics_minute in one batch). Differences, all for the benchmark: the topic is read from
`earliest` (it is pre-filled) instead of `latest`, and the job stops itself once the committed
offsets reach --events.

Prints one JSON line per milestone on stdout ({"event": "session" | "started" | "progress" |
"done"}), which bench/spark/spark.ts reads.
"""

import argparse
import json
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType

EVENT_SCHEMA = StructType(
    [
        StructField("event_id", StringType(), True),
        StructField("ts", StringType(), True),
        StructField("event_type", StringType(), True),
        StructField("stream_id", StringType(), True),
        StructField("user_id", StringType(), True),
        StructField("message_len", IntegerType(), True),
        StructField("amount_usd", DoubleType(), True),
        StructField("amount", DoubleType(), True),  # the seed's legacy field
    ]
)

DDL = """
CREATE TABLE IF NOT EXISTS stream_state (
  stream_id TEXT PRIMARY KEY,
  active_viewers INTEGER NOT NULL DEFAULT 0,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS stream_metrics_minute (
  window_start TIMESTAMPTZ NOT NULL,
  window_end TIMESTAMPTZ NOT NULL,
  stream_id TEXT NOT NULL,
  active_viewers INTEGER NOT NULL DEFAULT 0,
  chat_messages INTEGER NOT NULL DEFAULT 0,
  donations_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
  PRIMARY KEY (window_start, stream_id)
);
CREATE INDEX IF NOT EXISTS stream_metrics_minute_stream_idx ON stream_metrics_minute (stream_id);
CREATE INDEX IF NOT EXISTS stream_metrics_minute_window_idx ON stream_metrics_minute (window_start DESC);
"""


def emit(event, **fields):
    print(json.dumps({"event": event, "t": time.time(), **fields}), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--events", type=int, required=True, help="stop once this many offsets are committed")
    p.add_argument("--pg", required=True, help="libpq URL of the (fresh) database")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--ivy", required=True, help="where --packages are cached")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--shuffle-partitions", default="4")
    p.add_argument("--max-offsets-per-trigger", type=int, default=0, help="0: no limit (the seed's)")
    args = p.parse_args()

    import psycopg2
    from psycopg2.extras import execute_values

    with psycopg2.connect(args.pg) as conn, conn.cursor() as cur:
        cur.execute(DDL)

    spark = (
        SparkSession.builder.appName("rtsa-bench-seed-stream-job")
        .master(args.master)
        .config("spark.jars.packages", "org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0")
        .config("spark.jars.ivy", args.ivy)
        .config("spark.sql.shuffle.partitions", args.shuffle_partitions)
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    emit("session", spark=spark.version)

    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", args.brokers)
        .option("subscribe", args.topic)
        .option("startingOffsets", "earliest")
        .option("failOnDataLoss", "false")
    )
    if args.max_offsets_per_trigger > 0:
        reader = reader.option("maxOffsetsPerTrigger", args.max_offsets_per_trigger)
    raw = reader.load()

    parsed = raw.select(F.from_json(F.col("value").cast("string"), EVENT_SCHEMA).alias("e")).select("e.*")
    # The seed's event time: a trailing Z means +00:00; microseconds, then milliseconds, then any ISO form
    # (try_: Spark 4 runs in ANSI mode, where to_timestamp throws on what the seed's Spark 3.5 nulled).
    ts = F.regexp_replace(F.col("ts"), "Z$", "+00:00")
    events = (
        parsed.withColumn(
            "event_time",
            F.coalesce(
                F.try_to_timestamp(ts, F.lit("yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX")),
                F.try_to_timestamp(ts, F.lit("yyyy-MM-dd'T'HH:mm:ss.SSSXXX")),
                F.try_to_timestamp(ts),
            ),
        )
        .filter(F.col("event_time").isNotNull() & F.col("stream_id").isNotNull())
        .withColumn("chat_inc", F.when(F.col("event_type") == "chat_message", 1).otherwise(0))
        .withColumn(
            "don_usd",
            F.when(
                F.col("event_type") == "donation", F.coalesce(F.col("amount_usd"), F.col("amount"), F.lit(0.0))
            ).otherwise(0.0),
        )
        .withColumn(
            "viewer_delta",
            F.when(F.col("event_type") == "viewer_join", 1)
            .when(F.col("event_type") == "viewer_leave", -1)
            .otherwise(0),
        )
        .withWatermark("event_time", "10 minutes")
    )
    windowed = (
        events.groupBy(F.window(F.col("event_time"), "1 minute").alias("w"), F.col("stream_id"))
        .agg(
            F.sum("chat_inc").alias("chat_messages"),
            F.round(F.sum("don_usd"), 2).alias("donations_usd"),
            F.sum("viewer_delta").alias("net_viewer_delta"),
        )
        .select(
            F.col("w.start").alias("window_start"),
            F.col("w.end").alias("window_end"),
            "stream_id",
            "chat_messages",
            "donations_usd",
            "net_viewer_delta",
        )
    )

    def upsert(batch_df, batch_id):
        rows = batch_df.collect()
        if not rows:
            return
        delta_by_stream = {}
        for r in rows:
            delta_by_stream[r["stream_id"]] = delta_by_stream.get(r["stream_id"], 0) + int(r["net_viewer_delta"] or 0)
        conn = psycopg2.connect(args.pg)
        try:
            with conn.cursor() as cur:
                active = {}
                for stream_id, delta in delta_by_stream.items():
                    cur.execute(
                        "INSERT INTO stream_state (stream_id, active_viewers, updated_at) VALUES (%s, %s, now()) "
                        "ON CONFLICT (stream_id) DO UPDATE SET "
                        "active_viewers = GREATEST(stream_state.active_viewers + EXCLUDED.active_viewers, 0), "
                        "updated_at = now() RETURNING active_viewers",
                        (stream_id, max(delta, 0)),
                    )
                    active[stream_id] = cur.fetchone()[0]
                metrics = {}
                for r in rows:
                    metrics[(r["window_start"], r["stream_id"])] = (
                        r["window_start"],
                        r["window_end"],
                        r["stream_id"],
                        active[r["stream_id"]],
                        int(r["chat_messages"] or 0),
                        float(r["donations_usd"] or 0.0),
                    )
                execute_values(
                    cur,
                    "INSERT INTO stream_metrics_minute "
                    "(window_start, window_end, stream_id, active_viewers, chat_messages, donations_usd) VALUES %s "
                    "ON CONFLICT (window_start, stream_id) DO UPDATE SET window_end = EXCLUDED.window_end, "
                    "active_viewers = EXCLUDED.active_viewers, chat_messages = EXCLUDED.chat_messages, "
                    "donations_usd = EXCLUDED.donations_usd",
                    list(metrics.values()),
                    page_size=1000,
                )
            conn.commit()
        finally:
            conn.close()

    query = (
        windowed.writeStream.outputMode("update")
        .option("checkpointLocation", args.checkpoint)
        .foreachBatch(upsert)
        .queryName("stream_metrics_minute_to_postgres")
        .start()
    )
    emit("started")

    # A progress report is made once a micro-batch has run its sink and written its commit log:
    # its end offsets are then committed, as rtsa's are once they are in Postgres.
    seen_batch = -1
    batches = []
    while True:
        if query.exception() is not None:
            emit("failed", error=str(query.exception()))
            sys.exit(1)
        progress = query.lastProgress
        if progress is not None and progress["batchId"] != seen_batch:
            seen_batch = progress["batchId"]
            committed = 0
            for source in progress["sources"]:
                end = source.get("endOffset")
                if isinstance(end, str):
                    end = json.loads(end)
                for partitions in (end or {}).values():
                    committed += sum(partitions.values())
            batches.append({"batch": seen_batch, "rows": progress["numInputRows"], "ms": progress["durationMs"]})
            emit("progress", committed=committed, batch=seen_batch, rows=progress["numInputRows"])
            if committed >= args.events:
                emit("done", committed=committed, batches=batches)
                break
        time.sleep(0.05)
    query.stop()
    spark.stop()


if __name__ == "__main__":
    main()
