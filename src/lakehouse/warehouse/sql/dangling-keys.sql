-- Facts still pointing at a dim_user version this load removed (users whose history got shorter):
-- none, when the re-keying did its job. $1 user ids, $2 the removed version numbers.
SELECT v.user_id, v.version_number, count(*)::int AS facts
FROM unnest($1::text[], $2::integer[]) AS v(user_id, version_number)
JOIN (SELECT user_id, user_key FROM warehouse.fact_events
      UNION ALL
      SELECT user_id, user_key FROM warehouse.fact_sessions) f
  ON f.user_id = v.user_id AND f.user_key = warehouse.key64(v.user_id || '#' || v.version_number)
GROUP BY v.user_id, v.version_number
