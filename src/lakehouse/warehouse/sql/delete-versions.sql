-- The users whose history this load recomputes lose their versions; replace-versions.sql writes
-- the new ones in the same transaction.
DELETE FROM warehouse.dim_user WHERE user_id IN (SELECT user_id FROM stg_users)
