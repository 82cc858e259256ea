/** Just enough of the Prometheus text exposition format to check names and read plain gauges. */

export interface PrometheusText {
  /** Metric family name → type, from `# TYPE` lines. */
  types: Map<string, string>;
  /** Samples without labels: name → value. */
  values: Map<string, number>;
}

export function parsePrometheusText(text: string): PrometheusText {
  const types = new Map<string, string>();
  const values = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line);
      if (m?.[1] !== undefined && m[2] !== undefined) types.set(m[1], m[2]);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\s+(\S+)/.exec(line);
    if (sample?.[1] !== undefined && sample[2] !== undefined) values.set(sample[1], Number(sample[2]));
  }
  return { types, values };
}
