/**
 * A DAG worker in a process of its own, for the kill -9 test: its warehouse_load marks that it
 * started (table dag_test_entries) and then never ends. Prints "ready" once it works the queue.
 */
import { createPool } from '../../../src/db/index.ts';
import { okTasks, orchestrator } from './dag-harness.ts';

const url = process.env.DAG_TEST_DB_URL as string;
const pool = createPool(url, 4);
const tasks = okTasks();
tasks.warehouseLoad = async ({ date, attempt }) => {
  await pool.query(`INSERT INTO dag_test_entries (worker, what) VALUES ('child', $1)`, [
    `start ${date} ${attempt}`,
  ]);
  await new Promise(() => {}); // hangs until killed
  return {};
};
const o = orchestrator({ pool, url }, tasks, { roles: { scheduler: false, worker: true }, tag: 'child' });
await o.start();
console.log('ready');
