{{ config(materialized='table') }}
-- SPEC §6.5: one row per user at risk of churning. Days count from the UTC date of the user's last
-- event to as_of_date, the newest logical date loaded into the warehouse (warehouse.loaded_dates),
-- so the result depends neither on the wall clock nor on the order the dates were loaded in.
-- Levels: low from 7 days, medium from 14, high from 30; users under 7 days are not at risk.
with as_of as (
  select max(load_date) as as_of_date
  from {{ source('warehouse', 'loaded_dates') }}
),

activity as (
  select
    a.user_id,
    a.last_activity_at,
    o.as_of_date - a.last_activity_at::date as days_since_last_activity,
    o.as_of_date
  from {{ ref('user_activity') }} a
  cross join as_of o
)

select
  user_id,
  last_activity_at,
  days_since_last_activity,
  case
    when days_since_last_activity >= 30 then 'high'
    when days_since_last_activity >= 14 then 'medium'
    else 'low'
  end as churn_risk_level,
  as_of_date
from activity
where days_since_last_activity >= 7
