/**
 * What a data-quality check says about one logical date (SPEC §6.6), and the seed's JSON report
 * that gathers them (docs/quality.md shows one).
 */

/** The seed's four statuses. Only FAILED fails a run; WARNING and SKIPPED are reported, not fatal. */
export const CHECK_STATUSES = ['PASSED', 'FAILED', 'WARNING', 'SKIPPED'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

/**
 * The value of the gauge rtsa_quality_check_status: worse is bigger, so an alert is a threshold
 * (`>= 3` failed, `>= 2` anything to look at).
 */
export const STATUS_GAUGE_VALUE: Readonly<Record<CheckStatus, number>> = {
  PASSED: 0,
  SKIPPED: 1,
  WARNING: 2,
  FAILED: 3,
};

/** One check's verdict: what a check function returns. */
export interface CheckOutcome {
  status: CheckStatus;
  /** One line a person reads in the report, the logs and the webhook message. */
  message: string;
  /** Numbers behind the verdict (JSON-safe), as in the seed's report. */
  details: Record<string, unknown>;
}

/** A check's result as the report carries it (the seed's keys), plus its timing. */
export interface CheckResult extends CheckOutcome {
  check_name: string;
  /** When the check started, ISO 8601 UTC. */
  timestamp: string;
  duration_ms: number;
}

/** The seed's JSON report (data_quality_checks.py `--output-json`). */
export interface QualityReport {
  target_date: string;
  overall_status: 'PASSED' | 'FAILED';
  total_checks: number;
  /** Checks that PASSED. */
  passed_checks: number;
  /** Checks that FAILED (WARNING and SKIPPED count in neither). */
  failed_checks: number;
  checks: {
    check_name: string;
    status: CheckStatus;
    message: string;
    details: Record<string, unknown>;
    timestamp: string;
  }[];
}

/** The report of a run's results: PASSED overall when no check FAILED (the seed's HEAD rule). */
export function qualityReport(targetDate: string, results: readonly CheckResult[]): QualityReport {
  const failed = results.filter((r) => r.status === 'FAILED').length;
  return {
    target_date: targetDate,
    overall_status: failed === 0 ? 'PASSED' : 'FAILED',
    total_checks: results.length,
    passed_checks: results.filter((r) => r.status === 'PASSED').length,
    failed_checks: failed,
    checks: results.map((r) => ({
      check_name: r.check_name,
      status: r.status,
      message: r.message,
      details: r.details,
      timestamp: r.timestamp,
    })),
  };
}
