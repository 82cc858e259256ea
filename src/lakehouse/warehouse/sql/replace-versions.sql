-- The recomputed histories of stg_users' users replace theirs (after delete-versions.sql). Keys
-- are key64(user_id#version), so an unchanged version keeps its key; facts pointing at a key that
-- no longer exists are re-keyed before the commit checks the (deferred) foreign keys.
INSERT INTO warehouse.dim_user (user_key, user_id, email, username, signup_source, signup_date,
                                plan_type, user_tier, effective_start, effective_end, is_current,
                                version_number)
SELECT warehouse.key64(r.user_id || '#' || r.version_number), r.user_id, r.email, r.username,
       r.signup_source, r.signup_date::date, r.plan_type, r.user_tier, r.effective_start::timestamp,
       r.effective_end::timestamp, r.effective_end IS NULL, r.version_number
FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::text[], $9::text[], $10::text[])
     AS r(user_id, version_number, email, username, signup_source, signup_date, plan_type, user_tier,
          effective_start, effective_end)
