-- The affected users' versions before this load replaces them (their ranges, in µs): where the new
-- ranges differ is where older facts may need a new key.
SELECT user_id, version_number,
       (extract(epoch FROM effective_start) * 1000000)::bigint::text AS start_us,
       (extract(epoch FROM effective_end) * 1000000)::bigint::text AS end_us
FROM warehouse.dim_user
WHERE user_id IN (SELECT user_id FROM stg_users)
ORDER BY user_id, version_number
