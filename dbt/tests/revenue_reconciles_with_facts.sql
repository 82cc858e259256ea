-- The mart holds every purchase fact and its whole USD revenue (through dim_currency), no more and
-- no less. Returns one row, both sides, when they differ.
with mart as (
  select coalesce(sum(total_purchases), 0) as purchases, coalesce(sum(total_revenue_usd), 0) as revenue_usd
  from {{ ref('revenue_per_user') }}
),

facts as (
  select count(*) as purchases,
         coalesce(sum(round(f.purchase_amount * coalesce(c.usd_rate, 1), 2)), 0) as revenue_usd
  from {{ source('warehouse', 'fact_events') }} f
  left join {{ source('warehouse', 'dim_currency') }} c on c.currency = f.currency
  where f.event_type = 'purchase'
)

select mart.purchases as mart_purchases, facts.purchases as fact_purchases,
       mart.revenue_usd as mart_revenue_usd, facts.revenue_usd as fact_revenue_usd
from mart cross join facts
where mart.purchases <> facts.purchases or mart.revenue_usd <> facts.revenue_usd
