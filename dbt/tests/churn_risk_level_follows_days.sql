-- Each at-risk user's level follows from their days (low ≥ 7, medium ≥ 14, high ≥ 30), and nobody
-- under 7 days is listed. Returns the rows that break it.
select user_id, days_since_last_activity, churn_risk_level
from {{ ref('churn_risk') }}
where days_since_last_activity < 7
   or churn_risk_level <> case
        when days_since_last_activity >= 30 then 'high'
        when days_since_last_activity >= 14 then 'medium'
        else 'low'
      end
