/**
 * How `rtsa smoke` and `rtsa doctor` print: one line per check or finding, a mark (✓ passed,
 * ✗ failed, ! warning, - skipped), what was seen, how long it took, and for anything not fine an
 * indented line saying what to do. Colours only on a terminal (and never with NO_COLOR).
 */

export type Status = 'pass' | 'fail' | 'warn' | 'skip';

export interface Line {
  status: Status;
  name: string;
  detail: string;
  /** What to do about it; printed under a failure or a warning. */
  hint?: string | undefined;
  ms?: number | undefined;
}

/** Thrown inside a check: fails it with this message and hint. */
export class CheckFailed extends Error {
  readonly hint: string;
  constructor(message: string, hint: string) {
    super(message);
    this.name = 'CheckFailed';
    this.hint = hint;
  }
}

const MARKS: Record<Status, string> = { pass: '✓', fail: '✗', warn: '!', skip: '-' };
const COLOURS: Record<Status, number> = { pass: 32, fail: 31, warn: 33, skip: 90 };

export interface Printer {
  line(line: Line): void;
  heading(text: string): void;
  text(text: string): void;
}

export function createPrinter(write: (text: string) => void, colour: boolean): Printer {
  const paint = (code: number, s: string) => (colour ? `\u001b[${code}m${s}\u001b[0m` : s);
  return {
    line(l) {
      const took = l.ms === undefined ? '' : paint(90, ` (${formatMs(l.ms)})`);
      write(`  ${paint(COLOURS[l.status], MARKS[l.status])} ${l.name}: ${l.detail}${took}`);
      if (l.hint !== undefined && (l.status === 'fail' || l.status === 'warn')) {
        write(`      ${paint(COLOURS[l.status], '→')} ${l.hint}`);
      }
    },
    heading(text) {
      write(paint(1, text));
    },
    text(text) {
      write(text);
    },
  };
}

/** Colour when writing to a terminal, unless NO_COLOR is set. */
export function wantsColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '');
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** Seconds, minutes or hours, for ages ("last commit 3.2 s ago"). */
export function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export function plural(n: number, word: string): string {
  return `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;
}
