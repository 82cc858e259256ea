/**
 * A broker of the test's own (scripts/kafka-local.ts on a free port, jars from the cache the main
 * broker filled), for tests that restart it: restarting the shared KAFKA_BROKERS one would break
 * every other suite using it at the same time.
 */
import { spawn } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/kafka-local.ts', import.meta.url));

function kafkaLocal(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

function listenOn(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port whose next one is free too (the broker's controller listens there). */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if ((await listenOn(port)) && (await listenOn(port + 1))) return port;
  }
  throw new Error('no two consecutive free ports found');
}

export class LocalBroker {
  readonly port: number;
  #running = true;

  private constructor(port: number) {
    this.port = port;
  }

  static async start(): Promise<LocalBroker> {
    const port = await freePortPair();
    const started = await kafkaLocal('start', '--port', String(port));
    if (started.code !== 0) throw new Error(`kafka-local start failed:\n${started.stderr}`);
    return new LocalBroker(port);
  }

  get brokers(): string[] {
    return [`127.0.0.1:${this.port}`];
  }

  /** Whether the broker accepts connections right now. */
  accepts(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port: this.port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  }

  /** Stops the broker (SIGTERM) and starts it again on the same data; resolves once it answers. */
  async restart(): Promise<void> {
    const restarted = await kafkaLocal('restart', '--port', String(this.port));
    if (restarted.code !== 0) throw new Error(`kafka-local restart failed:\n${restarted.stderr}`);
  }

  /** Stops the broker and deletes its data. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    const stopped = await kafkaLocal('stop', '--port', String(this.port));
    if (stopped.code !== 0) throw new Error(`kafka-local stop failed:\n${stopped.stderr}`);
  }
}
