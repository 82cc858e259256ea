/** The loader's SQL, one statement (or one small script) per file in ./sql, read once. */
import { readFileSync } from 'node:fs';

const read = (name: string) => readFileSync(new URL(`./sql/${name}.sql`, import.meta.url), 'utf8');

export const SQL = {
  createStaging: read('create-staging'),
  stageTables: read('stage-tables'),
  reloadKeys: read('reload-keys'),
  newKeys: read('new-keys'),
  stageEvents: read('stage-events'),
  stageSessions: read('stage-sessions'),
  affectedUsers: read('affected-users'),
  rateEdits: read('rate-edits'),
  reprice: read('reprice'),
  historyEvents: read('history-events'),
  oldVersions: read('old-versions'),
  rekeyScope: read('rekey-scope'),
  deleteVersions: read('delete-versions'),
  replaceVersions: read('replace-versions'),
  insertEventFacts: read('insert-event-facts'),
  insertSessionFacts: read('insert-session-facts'),
  rekeyEventFacts: read('rekey-event-facts'),
  rekeySessionFacts: read('rekey-session-facts'),
  sessionRevenue: read('session-revenue'),
  danglingKeys: read('dangling-keys'),
} as const;
