{{ config(materialized='table') }}
-- One row per user with any event in the warehouse: when they were first and last active and how
-- many events they have. churn_risk reads it; the KPI API may too.
select
  user_id,
  min(event_timestamp) as first_activity_at,
  max(event_timestamp) as last_activity_at,
  count(*) as total_events
from {{ source('warehouse', 'fact_events') }}
group by user_id
