import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assignGroupBySize, balancePartitions } from '../../src/bus/assignment.ts';

test('partitions dealt by size: the largest first, each to the least-loaded member', () => {
  assert.deepEqual(balancePartitions([300, 50, 300, 100], 2), [
    [0, 3],
    [1, 2],
  ]);
  // A Zipf-like spread over 8 partitions: the two members end within one small partition of even.
  const sizes = [144, 106, 207, 94, 92, 99, 158, 100];
  const dealt = balancePartitions(sizes, 2);
  const loads = dealt.map((ps) => ps.reduce((sum, p) => sum + (sizes[p] as number), 0));
  assert.deepEqual(
    dealt.flat().sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7],
  );
  assert.ok(Math.abs((loads[0] as number) - (loads[1] as number)) <= 92, `loads ${loads}`);
  // p % 2 would give 0, 2, 4, 6 (601) against 1, 3, 5, 7 (399).
  assert.ok(Math.max(...loads) < 540, `loads ${loads}`);
});

test('empty partitions (a new log) are dealt out evenly by count; every member gets one', () => {
  assert.deepEqual(balancePartitions([0, 0, 0, 0, 0], 2), [
    [0, 2, 4],
    [1, 3],
  ]);
  assert.deepEqual(balancePartitions([5, 0, 0], 3), [[0], [1], [2]]);
  assert.deepEqual(balancePartitions([7], 1), [[0]]);
  assert.throws(() => balancePartitions([1, 2], 0), /members/);
});

test('the same sizes give the same deal (ties by partition number)', () => {
  const sizes = [10, 10, 10, 10, 10, 10];
  assert.deepEqual(balancePartitions(sizes, 4), balancePartitions([...sizes], 4));
  assert.deepEqual(balancePartitions(sizes, 4), [[0, 4], [1, 5], [2], [3]]);
});

test('a Kafka group: each topic dealt by size over the members in id order; unknown sizes by number', () => {
  const dealt = assignGroupBySize(
    ['member-b', 'member-a'],
    new Map([
      ['events', 4],
      ['other', 3],
    ]),
    new Map([['events', [100, 80, 10, 10]]]),
  );
  // Round-robin would give a [0, 2] and b [1, 3]: 110 records against 90.
  assert.deepEqual(
    dealt.get('member-a'),
    new Map([
      ['events', [0]],
      ['other', [0, 2]],
    ]),
  );
  assert.deepEqual(
    dealt.get('member-b'),
    new Map([
      ['events', [1, 2, 3]],
      ['other', [1]],
    ]),
  );
  // More members than partitions: the extra one gets nothing of that topic.
  const many = assignGroupBySize(['x', 'y', 'z'], new Map([['events', 2]]), new Map());
  assert.deepEqual(
    [...many.values()].map((m) => m.get('events') ?? []),
    [[0], [1], []],
  );
  assert.deepEqual(assignGroupBySize([], new Map([['events', 2]]), new Map()), new Map());
});
