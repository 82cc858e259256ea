/**
 * The build order of the models: every model after the models it refs (a topological sort; among
 * models ready at the same time, by name, so the order is the same on every run). A cycle is a
 * ProjectError naming the models in it and their files.
 */
import { ProjectError } from './project-error.ts';

export interface ModelNode {
  name: string;
  file: string;
  refs: readonly string[];
}

export function modelOrder(models: readonly ModelNode[]): string[] {
  const byName = new Map(models.map((m) => [m.name, m]));
  const waiting = new Map(models.map((m) => [m.name, new Set(m.refs.filter((r) => r !== m.name))]));
  for (const m of models) {
    if (m.refs.includes(m.name)) throw new ProjectError(`model ${m.name} (${m.file}) refs itself`);
    for (const r of m.refs) {
      if (!byName.has(r))
        throw new ProjectError(`model ${m.name} (${m.file}) refs ${r}, which is not a model of the project`);
    }
  }
  const order: string[] = [];
  for (;;) {
    const ready = [...waiting]
      .filter(([, deps]) => deps.size === 0)
      .map(([n]) => n)
      .sort();
    if (ready.length === 0) break;
    for (const n of ready) {
      order.push(n);
      waiting.delete(n);
      for (const deps of waiting.values()) deps.delete(n);
    }
  }
  if (waiting.size > 0) {
    const cycle = findCycle(waiting);
    throw new ProjectError(
      `the models' refs form a cycle: ${cycle.join(' → ')} (${cycle
        .slice(0, -1)
        .map((n) => byName.get(n)?.file)
        .join(', ')}); a model cannot depend on itself through others`,
    );
  }
  return order;
}

/** One cycle among the models left (each still waits on another one left). */
function findCycle(waiting: Map<string, Set<string>>): string[] {
  const start = [...waiting.keys()].sort()[0] as string;
  const path: string[] = [];
  const seen = new Map<string, number>();
  let at = start;
  while (!seen.has(at)) {
    seen.set(at, path.length);
    path.push(at);
    at = [...(waiting.get(at) as Set<string>)].sort()[0] as string;
  }
  return [...path.slice(seen.get(at)), at];
}
