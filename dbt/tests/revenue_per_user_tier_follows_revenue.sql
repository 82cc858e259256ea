-- A buyer's tier (their current dim_user version's) is the one their lifetime revenue gives (SPEC
-- §6.4: bronze < 100 <= silver < 1,000 <= gold < 10,000 <= platinum, USD). It breaks when a rate was
-- edited in dim_currency after the last warehouse load: the mart follows the new rate at its build,
-- the tiers and the facts at the next `rtsa warehouse load`. Returns the users that disagree.
select user_id, total_revenue_usd, user_tier,
       case when total_revenue_usd >= 10000 then 'platinum'
            when total_revenue_usd >= 1000 then 'gold'
            when total_revenue_usd >= 100 then 'silver'
            else 'bronze' end as tier_of_revenue
from {{ ref('revenue_per_user') }}
where user_tier is distinct from
      case when total_revenue_usd >= 10000 then 'platinum'
           when total_revenue_usd >= 1000 then 'gold'
           when total_revenue_usd >= 100 then 'silver'
           else 'bronze' end
