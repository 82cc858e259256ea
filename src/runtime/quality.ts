/**
 * `rtsa quality check [--date D] [--output-json F] [--slack-webhook URL]`: runs the data-quality
 * checks of a date (src/lakehouse/quality), keeps the results in Postgres, prints the seed's JSON
 * report on stdout (and writes it to F), posts the alert when a check FAILED, and exits 1 when
 * one did (0 otherwise: WARNING and SKIPPED do not fail the run).
 */
import { existsSync, statSync } from 'node:fs';
import { access, constants, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/index.ts';
import { SETTINGS } from '../config/index.ts';
import { ConfigError } from '../errors.ts';
import type { QualitySettings } from '../lakehouse/quality/index.ts';
import { alertWebhookFromConfig } from './alert-webhook.ts';
import { yesterday } from '../lakehouse/dates.ts';
import { dateFlag } from './dates.ts';
import { openDatabase } from './database.ts';
import { lakeStoreFromConfig } from './lake-store.ts';
import type { RoleRunner } from './role.ts';

/** Where user SQL checks are read from when RTSA_QUALITY_DIR is unset (when it exists). */
export const DEFAULT_QUALITY_DIR = 'quality';

/** The quality settings of the config; an RTSA_QUALITY_DIR that is not a folder is an error. */
export function qualitySettingsFromConfig(config: Config): QualitySettings {
  let checksDir: string | undefined;
  if (config.qualityDir !== undefined) {
    const dir = path.resolve(config.qualityDir);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new ConfigError(
        `${SETTINGS.qualityDir.env} is ${JSON.stringify(config.qualityDir)}, which is not a folder: create it, ` +
          `or unset ${SETTINGS.qualityDir.env} to use ./${DEFAULT_QUALITY_DIR} (when it exists)`,
      );
    }
    checksDir = dir;
  } else if (existsSync(DEFAULT_QUALITY_DIR) && statSync(DEFAULT_QUALITY_DIR).isDirectory()) {
    checksDir = path.resolve(DEFAULT_QUALITY_DIR);
  }
  return {
    freshnessThresholdMs: config.qualityFreshnessMs,
    volumeThresholdPct: config.qualityVolumeThresholdPct,
    lookbackDays: config.qualityLookbackDays,
    checksDir,
    sqlTimeoutMs: config.qualitySqlTimeoutMs,
  };
}

/** The report file can be written: checked before the checks run, not after. */
async function writableFile(file: string): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a folder');
    await access(dir, constants.W_OK);
    if (existsSync(file) && statSync(file).isDirectory()) throw new Error(`${file} is a folder`);
  } catch (error) {
    throw new ConfigError(
      `--output-json ${JSON.stringify(file)} cannot be written (${(error as Error).message}): ` +
        `create the folder ${dir}, or name a file in a folder you can write to`,
    );
  }
}

export const run: RoleRunner = async ({ config, flags, subcommand, logger }) => {
  if (subcommand !== 'check') throw new ConfigError(`rtsa quality: unknown subcommand ${subcommand}`);
  const date = dateFlag('date', flags.date) ?? yesterday();
  const outputJson = flags['output-json'];
  if (outputJson === true || outputJson === '') throw new ConfigError('--output-json needs a file name');
  if (typeof outputJson === 'string') await writableFile(outputJson);
  const override = flags['slack-webhook'];
  const webhook = alertWebhookFromConfig(config, typeof override === 'string' ? override : undefined);
  const settings = qualitySettingsFromConfig(config);
  const { runQualityChecks } = await import('../lakehouse/quality/index.ts');
  const store = lakeStoreFromConfig(config);
  const db = await openDatabase(config, logger, 2);
  try {
    const { report } = await runQualityChecks({ pool: db.pool, store, logger, date, settings, webhook });
    const text = `${JSON.stringify(report, null, 2)}\n`;
    if (typeof outputJson === 'string') await writeFile(outputJson, text);
    process.stdout.write(text);
    return report.overall_status === 'PASSED' ? 0 : 1;
  } finally {
    await db.close();
    await store.close();
  }
};
