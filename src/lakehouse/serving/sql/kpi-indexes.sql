-- The indexes the KPI API's queries probe (src/lakehouse/serving/kpi-read-model.ts). Every KPI
-- request is an index probe bounded by its page size, never a scan of a mart. The marts build may
-- replace its tables; the read model re-creates these when they are missing (IF NOT EXISTS).
CREATE INDEX IF NOT EXISTS kpi_dau_date_idx ON marts.daily_active_users (activity_date);
CREATE INDEX IF NOT EXISTS kpi_revenue_rank_idx ON marts.revenue_per_user (total_revenue_usd DESC, user_id);
CREATE INDEX IF NOT EXISTS kpi_churn_level_idx ON marts.churn_risk (churn_risk_level, days_since_last_activity DESC, user_id);
CREATE INDEX IF NOT EXISTS kpi_churn_days_idx ON marts.churn_risk (days_since_last_activity DESC, user_id);
