-- Where re-keying must look: per user, facts from the first changed version range on.
INSERT INTO stg_rekey (user_id, from_ts)
SELECT * FROM unnest($1::text[], $2::timestamp[])
