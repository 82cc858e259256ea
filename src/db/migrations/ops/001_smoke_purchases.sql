-- `rtsa smoke` (src/ops/lakehouse-checks.ts): the smoke purchase it posted each UTC day, its own
-- record of what was sent, independent of the pipeline. A later smoke, once that day is complete in
-- silver, runs the DAG for it and checks marts.revenue_per_user against this row. One purchase a
-- day: every smoke of the day posts the same event (same idempotency key), so the first row stays.
CREATE TABLE smoke_purchases (
  logical_date     date          PRIMARY KEY,           -- the UTC day of the purchase's event time
  user_id          text          NOT NULL UNIQUE,
  idempotency_key  text          NOT NULL,
  amount           numeric(12,2) NOT NULL CHECK (amount > 0),
  currency         text          NOT NULL,
  quantity         integer       NOT NULL CHECK (quantity > 0),
  posted_at        timestamptz   NOT NULL               -- when the API first accepted it
);
