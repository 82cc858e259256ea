/**
 * What to do, said for the way the stack runs: the compose stack (make / docker compose) or the
 * embedded `rtsa start` (npm start). Shared by `rtsa smoke` and `rtsa doctor`.
 */
import path from 'node:path';
import type { Config } from '../config/index.ts';
import type { StackTarget } from './stack-target.ts';

export interface Hints {
  apiDown: string;
  apiNotRtsa: string;
  databaseDown: string;
  busDown: string;
  noTopic: string;
  processorDown: string;
  processorStuck: string;
  processorLagging: string;
  notAggregated: string;
  generatorStopped: string;
  otherLog: string;
  ingestRefused: string;
  migrations: string;
}

export function hintsFor(config: Config, target: StackTarget): Hints {
  const dataDir = path.resolve(config.dataDir);
  const apiFlag = 'point --api-url / RTSA_API_URL at the API';
  if (target.distributed) {
    return {
      apiDown: `start the stack (\`make up\`), then \`make ps\` and \`make logs s=api\`; or ${apiFlag}`,
      apiNotRtsa: `${target.apiUrl} is not an rtsa API: ${apiFlag}`,
      databaseDown:
        'Postgres is down or unreachable: `make ps`, `make logs s=postgres`, `docker compose up -d postgres` ' +
        '(the processors retry and resume by themselves)',
      busDown:
        `Kafka (${config.kafkaBrokers?.join(',')}) did not answer: \`make ps\`, \`make logs s=kafka\`; ` +
        'from the host use KAFKA_BROKERS=localhost:9094, inside compose kafka:9092',
      noTopic:
        'a processor creates the topic when it starts: is one running (`make ps`, `make logs s=processor`)? ' +
        `Is RTSA_TOPIC (${config.topic}) the stack's topic?`,
      processorDown:
        'no processor is committing: `make ps`, `make logs s=processor`, `docker compose up -d processor`',
      processorStuck:
        'a processor holds partitions but does not commit: `make logs s=processor` (Postgres errors? fenced?), ' +
        'then `docker compose restart processor`; see docs/runbooks.md "Processor crash"',
      processorLagging:
        'add processors (`docker compose up -d --scale processor=N`, up to the partition count) or lower ' +
        'the input rate; see docs/runbooks.md "Lag"',
      notAggregated:
        'the event is in the log but no window shows it: is a processor running and committing? ' +
        '`make logs s=processor`, then `make doctor`',
      generatorStopped:
        'the generator looks stopped: `make logs s=generator`, `docker compose up -d generator`',
      otherLog:
        'the API writes to another broker or topic than the one checked: make KAFKA_BROKERS and RTSA_TOPIC ' +
        "match the stack's (compose: kafka:9092, stream.events)",
      ingestRefused: 'set RTSA_INGEST_TOKEN to the token the API expects',
      migrations: 'run the migrations: `docker compose run --rm migrate` (make up does it)',
    };
  }
  return {
    apiDown: `start rtsa (\`npm start\`), or ${apiFlag} (or --port to its port)`,
    apiNotRtsa: `${target.apiUrl} is not an rtsa API: ${apiFlag} (or --port to its port)`,
    databaseDown: `the embedded Postgres is not running: restart rtsa (Ctrl-C, then \`npm start\`); its log is ${path.join(dataDir, 'postgres.log')}`,
    busDown: `the embedded log in ${path.join(dataDir, 'log')} cannot be read: check --data-dir / RTSA_DATA_DIR`,
    noTopic:
      `no topic "${config.topic}" in ${path.join(dataDir, 'log')}: is --data-dir / RTSA_DATA_DIR the folder of ` +
      'the running rtsa (default ./data), and RTSA_TOPIC its topic?',
    processorDown: 'the processor is not running or not committing: see the output of `rtsa start`',
    processorStuck:
      'the processor holds partitions but does not commit: see the output of `rtsa start` (Postgres errors?), ' +
      'then restart it (Ctrl-C, `npm start`)',
    processorLagging: 'the processor is behind the log: lower --rate, or run on Kafka with more processors',
    notAggregated:
      'the event is in the log but no window shows it: is the processor running? see the output of `rtsa start`, ' +
      'then `npx rtsa doctor`',
    generatorStopped: 'no new events: is the generator on (`npm start` without --no-generator)?',
    otherLog:
      `the API writes to another log than ${path.join(dataDir, 'log')}: pass --data-dir with the folder of the ` +
      'running rtsa, and the same RTSA_TOPIC',
    ingestRefused: 'set RTSA_INGEST_TOKEN / --ingest-token to the token the API expects',
    migrations: 'restart rtsa: it applies the migrations on start (`npx rtsa migrate` does only that)',
  };
}
