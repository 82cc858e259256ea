import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

/** `rtsa start` as a user runs it, in a child process. */
export function startRtsa(args: string[]): ChildProcess {
  return spawn(
    process.execPath,
    ['src/cli/main.ts', 'start', '--log-format', 'json', '--log-level', 'warn', ...args],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
}

export async function stopRtsa(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  await exited;
}

/**
 * `rtsa serve` on the scratch database and folder in a child process (its own core, as deployed),
 * `extra` flags after the common ones; `fn` gets its base URL and pid; stopped with Ctrl-C after.
 */
export async function withServe<T>(
  env: { dir: string; pgUrl: string },
  extra: string[],
  fn: (base: string, pid: number) => Promise<T>,
): Promise<T> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      // e.g. RTSA_BENCH_SERVE_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the server under load.
      ...(process.env.RTSA_BENCH_SERVE_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      'src/cli/main.ts',
      'serve',
      '--database-url',
      env.pgUrl,
      '--data-dir',
      env.dir,
      '--port',
      String(port),
      '--log-level',
      'warn',
      '--log-format',
      'json',
      ...extra,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor('API', async () => ((await fetch(`${base}/health`)).ok ? true : undefined), 60_000);
    return await fn(base, child.pid as number);
  } finally {
    await stopRtsa(child);
  }
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Every 100 ms for `seconds`, POSTs a probe donation for a stream of its own to `base`/events and
 * polls /metrics/latest until it shows. Returns the latencies (seconds, sorted) from the 202 and
 * from before the POST.
 */
export async function probeFreshness(
  base: string,
  seconds: number,
  onProgress: (seen: number) => void,
): Promise<{ fromAccepted: number[]; fromPost: number[] }> {
  const fromAccepted: number[] = [];
  const fromPost: number[] = [];
  const probes: Promise<void>[] = [];
  const end = Date.now() + seconds * 1000;
  for (let i = 0; Date.now() < end; i++) {
    const stream = `probe_${process.pid}_${i}`;
    probes.push(
      (async () => {
        const body = JSON.stringify({
          event_id: `probe-${process.pid}-${i}`,
          ts: new Date().toISOString(),
          event_type: 'donation',
          stream_id: stream,
          user_id: 'prober',
          amount_usd: 1,
        });
        const posted = performance.now();
        const res = await fetch(`${base}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        if (res.status !== 202) throw new Error(`probe rejected: ${res.status} ${await res.text()}`);
        const accepted = performance.now();
        await waitFor(
          'probe',
          async () => {
            const r = await fetch(`${base}/metrics/latest?stream_id=${stream}`);
            const b = (await r.json()) as { rows: unknown[] };
            return b.rows.length > 0 ? true : undefined;
          },
          30_000,
        );
        const seen = performance.now();
        fromAccepted.push((seen - accepted) / 1000);
        fromPost.push((seen - posted) / 1000);
      })(),
    );
    onProgress(fromAccepted.length);
    await new Promise((r) => setTimeout(r, 100));
  }
  await Promise.all(probes);
  fromAccepted.sort((a, b) => a - b);
  fromPost.sort((a, b) => a - b);
  return { fromAccepted, fromPost };
}
