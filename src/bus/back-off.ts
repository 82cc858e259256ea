/**
 * The back-off of a source handler retrying a write that must become durable (a processor's or a
 * lake writer's commit), ended early when the process is asked to stop. Retried "until durable",
 * such a write would otherwise hold Ctrl-C for as long as Postgres is gone. Once stopping, the
 * writer gives up at its next failure and commits nothing more: what it held is read again from
 * the log at the next start (the committed offsets did not move).
 */
export class BackOff {
  private readonly wakers = new Set<() => void>();
  private stopRequested = false;

  get stopping(): boolean {
    return this.stopRequested;
  }

  /** Stop requested: every sleep ends now, and `stopping` tells the retry loops to give up. */
  stop(): void {
    this.stopRequested = true;
    for (const wake of this.wakers) wake();
  }

  sleep(ms: number): Promise<void> {
    if (this.stopRequested) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }
}
