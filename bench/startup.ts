/**
 * Startup: `rtsa start` (generator on, defaults) on a fresh data folder, timed until
 * /metrics/latest shows a window; then Ctrl-C and the same on the now-existing folder.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BenchOptions } from './options.ts';
import { freePort, startRtsa, stopRtsa, waitFor } from './child.ts';

async function firstWindow(dir: string): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = startRtsa(['--data-dir', dir, '--port', String(port)]);
  try {
    await waitFor(
      'first window',
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/metrics/latest`);
        const body = (await res.json()) as { rows?: unknown[] };
        return body.rows && body.rows.length > 0 ? true : undefined;
      },
      60_000,
    );
    return (performance.now() - started) / 1000;
  } finally {
    await stopRtsa(child);
  }
}

export async function runStartup(_opts: BenchOptions): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rtsa-bench-start-'));
  try {
    const fresh = await firstWindow(dir);
    console.log(`fresh data folder: first window after ${fresh.toFixed(2)} s`);
    const warm = await firstWindow(dir);
    console.log(`existing data folder: first window after ${warm.toFixed(2)} s`);
    return {
      fresh_seconds_to_first_window: Number(fresh.toFixed(2)),
      restart_seconds_to_first_window: Number(warm.toFixed(2)),
      setup: 'rtsa start with defaults (generator 50 events/s), timed from spawn to a row in /metrics/latest',
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
