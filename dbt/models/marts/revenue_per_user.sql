{{ config(materialized='table') }}
-- SPEC §6.5: one row per user with a purchase. Amounts go to USD through warehouse.dim_currency,
-- each purchase rounded to cents as the load does (a code dim_currency lacks counts as USD, as in
-- the load); plan_type and user_tier are the user's current version's.
with purchases as (
  select
    f.user_id,
    f.event_timestamp,
    f.purchase_quantity,
    round(f.purchase_amount * coalesce(c.usd_rate, 1), 2) as amount_usd
  from {{ source('warehouse', 'fact_events') }} f
  left join {{ source('warehouse', 'dim_currency') }} c on c.currency = f.currency
  where f.event_type = 'purchase'
),

per_user as (
  select
    user_id,
    count(*) as total_purchases,
    sum(amount_usd) as total_revenue_usd,
    sum(purchase_quantity)::bigint as total_items,
    min(event_timestamp) as first_purchase_at,
    max(event_timestamp) as last_purchase_at
  from purchases
  group by user_id
)

select
  p.user_id,
  p.total_purchases,
  p.total_revenue_usd,
  p.total_items,
  round(p.total_revenue_usd / p.total_purchases, 2) as avg_order_value_usd,
  p.first_purchase_at,
  p.last_purchase_at,
  p.last_purchase_at::date - p.first_purchase_at::date as customer_lifespan_days,
  u.plan_type,
  u.user_tier
from per_user p
left join {{ source('warehouse', 'dim_user') }} u on u.user_id = p.user_id and u.is_current
