/** System B's logical dates (src/lakehouse/dates.ts): calendar days in UTC, YYYY-MM-DD. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addDays, dateRange, isDate, utcDay, yesterday } from '../../src/lakehouse/dates.ts';

test('isDate takes real calendar dates only', () => {
  for (const ok of ['2026-12-02', '2024-02-29', '2000-02-29', '1999-12-31'])
    assert.equal(isDate(ok), true, ok);
  for (const bad of [
    '2025-02-29',
    '2025-02-30',
    '2025-13-01',
    '2025-00-10',
    '2026-1-02',
    '2026-12-02T00:00:00Z',
    '',
  ])
    assert.equal(isDate(bad), false, bad);
});

test('addDays crosses months, years and leap days; dateRange is inclusive and in order', () => {
  assert.equal(addDays('2024-02-28', 1), '2024-02-29');
  assert.equal(addDays('2025-02-28', 1), '2025-03-01');
  assert.equal(addDays('2026-12-31', 1), '2027-01-01');
  assert.equal(addDays('2026-01-01', -1), '2025-12-31');
  assert.equal(addDays('2026-03-29', 0), '2026-03-29');
  assert.deepEqual(dateRange('2024-02-27', '2024-03-01'), [
    '2024-02-27',
    '2024-02-28',
    '2024-02-29',
    '2024-03-01',
  ]);
  assert.deepEqual(dateRange('2026-12-02', '2026-12-02'), ['2026-12-02']);
  assert.deepEqual(dateRange('2026-12-03', '2026-12-02'), []);
});

test('utcDay and yesterday are UTC, whatever the local time zone', () => {
  const ms = Date.parse('2026-12-02T00:30:00Z');
  assert.equal(utcDay(ms), '2026-12-02');
  assert.equal(yesterday(ms), '2026-12-01');
  assert.equal(yesterday(Date.parse('2026-03-01T23:59:59.999Z')), '2026-02-28');
});
