-- A day's numbers agree with each other: at least one active user, no more users or signups than
-- events, and the average is events over users. Returns the days that break it.
select activity_date, daily_active_users, total_events, signups, avg_events_per_user
from {{ ref('daily_active_users') }}
where daily_active_users < 1
   or daily_active_users > total_events
   or signups > total_events
   or avg_events_per_user <> round(total_events::numeric / daily_active_users, 2)
