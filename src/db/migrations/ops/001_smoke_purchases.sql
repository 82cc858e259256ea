-- `rtsa smoke` (src/ops/lakehouse-checks.ts): the smoke purchases it posted, its own record of what
-- was sent, independent of the pipeline. A later smoke, once that day is complete in silver, runs
-- the DAG for the day and checks marts.revenue_per_user against these rows. One purchase a smoke
-- run, each of its own user, so no two are the same event.
CREATE TABLE smoke_purchases (
  user_id          text          PRIMARY KEY,
  logical_date     date          NOT NULL,              -- the UTC day of the purchase's event time
  idempotency_key  text          NOT NULL UNIQUE,
  amount           numeric(12,2) NOT NULL CHECK (amount > 0),
  currency         text          NOT NULL,
  quantity         integer       NOT NULL CHECK (quantity > 0),
  posted_at        timestamptz   NOT NULL               -- when the API accepted it
);
CREATE INDEX smoke_purchases_date_idx ON smoke_purchases (logical_date);
