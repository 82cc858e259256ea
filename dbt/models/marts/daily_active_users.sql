{{ config(materialized='table') }}
-- SPEC §6.5: one row per UTC day with events. daily_active_users counts distinct *natural* user
-- ids (a user with several dim_user versions that day is one user); sessions are the sessions that
-- started that day (fact_sessions' grain); signups are that day's user_signup events.
with user_days as (
  select
    event_date,
    user_id,
    count(*) as events,
    count(*) filter (where event_type = 'user_signup') as signups
  from {{ source('warehouse', 'fact_events') }}
  group by event_date, user_id
),

days as (
  select
    event_date as activity_date,
    count(*) as daily_active_users,
    sum(events)::bigint as total_events,
    sum(signups)::bigint as signups
  from user_days
  group by event_date
),

sessions as (
  select session_date as activity_date, count(*) as sessions
  from {{ source('warehouse', 'fact_sessions') }}
  group by session_date
)

select
  d.activity_date,
  d.daily_active_users,
  d.total_events,
  coalesce(s.sessions, 0) as sessions,
  d.signups,
  round(d.total_events::numeric / d.daily_active_users, 2) as avg_events_per_user
from days d
left join sessions s on s.activity_date = d.activity_date
