-- A buyer's numbers agree with each other: first purchase no later than the last, lifespan in days
-- between them, average order value = revenue over purchases. Returns the users that break it.
select user_id, total_purchases, total_revenue_usd, avg_order_value_usd, first_purchase_at,
       last_purchase_at, customer_lifespan_days
from {{ ref('revenue_per_user') }}
where total_purchases < 1
   or first_purchase_at > last_purchase_at
   or customer_lifespan_days <> last_purchase_at::date - first_purchase_at::date
   or avg_order_value_usd <> round(total_revenue_usd / total_purchases, 2)
