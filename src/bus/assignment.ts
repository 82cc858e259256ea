/**
 * How the members of one process (processor threads, a lake layer's threads) split a topic's
 * partitions on the embedded log, and how a Kafka consumer group's leader splits them among the
 * group's members (`assignGroupBySize`). On the live-stream topic keys are streams, and a few streams
 * carry much of the traffic (the generator's popularity, like real audiences, is Zipf-like: the
 * top stream of 1,000 has ~6 % of the events). Dealing the partitions out by number (p % members)
 * gives each member the partitions of one hash residue, so the split is the same whatever the
 * partition count — 60/40 over two members for the default generator — and the busiest member sets
 * the pace. Dealing them by size (the largest first, each to the least-loaded member) evens that
 * out once there are more partitions than members.
 */

/**
 * The partitions of each of `members` members, by `sizes[p]` (bytes in partition p): longest
 * processing time first, ties by partition number, each to the member with the least bytes, then
 * the fewest partitions, then the lowest index. Every member gets at least one partition when there
 * are as many partitions as members; each list is ascending. Deterministic for the same sizes.
 */
export function balancePartitions(sizes: readonly number[], members: number): number[][] {
  if (!Number.isInteger(members) || members < 1)
    throw new Error(`members must be a positive integer, got ${members}`);
  const load = new Array<number>(members).fill(0);
  const owned: number[][] = Array.from({ length: members }, () => []);
  const order = sizes.map((_, p) => p).sort((a, b) => (sizes[b] as number) - (sizes[a] as number) || a - b);
  for (const p of order) {
    let best = 0;
    for (let m = 1; m < members; m++) {
      const d = (load[m] as number) - (load[best] as number);
      if (d < 0 || (d === 0 && (owned[m] as number[]).length < (owned[best] as number[]).length)) best = m;
    }
    load[best] = (load[best] as number) + Math.max(0, sizes[p] as number);
    (owned[best] as number[]).push(p);
  }
  for (const list of owned) list.sort((a, b) => a - b);
  return owned;
}

/**
 * A Kafka group's assignment by size: for each topic, `balancePartitions` over the members in
 * member-id order (so every leader computes the same deal from the same sizes). `sizes` has the
 * records in each partition (last offset - first retained) where the leader knows them; a topic or
 * partition it does not know counts 0, which deals by number.
 */
export function assignGroupBySize(
  memberIds: readonly string[],
  partitionCounts: ReadonlyMap<string, number>,
  sizes: ReadonlyMap<string, readonly number[]>,
): Map<string, Map<string, number[]>> {
  const ordered = [...memberIds].sort();
  const out = new Map<string, Map<string, number[]>>(ordered.map((m) => [m, new Map()]));
  if (ordered.length === 0) return out;
  for (const [topic, count] of partitionCounts) {
    const known = sizes.get(topic) ?? [];
    const dealt = balancePartitions(
      Array.from({ length: count }, (_, p) => known[p] ?? 0),
      ordered.length,
    );
    for (const [i, partitions] of dealt.entries()) {
      if (partitions.length > 0) out.get(ordered[i] as string)?.set(topic, partitions);
    }
  }
  return out;
}
