-- Donation sums exact at any size: numeric(20,6) overflowed at 10^14 USD in one window (a commit
-- error the processor could not get past). numeric(1000,6) keeps every digit (and the micro-dollar scale).
ALTER TABLE stream_metrics_minute ALTER COLUMN donations_usd TYPE numeric(1000,6);
