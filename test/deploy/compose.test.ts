/**
 * Static checks of the distributed deployment — docker-compose.yml, the Dockerfile, the Makefile —
 * against what the rest of the repository says: every rtsa variable is a setting of the one config
 * schema (and applies to the role the service runs), images are pinned, every long-running service
 * has a healthcheck, the start order is a valid graph, the mounted deploy/ files exist and the
 * Prometheus scrape targets are ports the services really serve. No Docker engine is needed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { COMMAND_NAMES, type Role, SETTINGS, type SettingSpec, settingsFor } from '../../src/config/index.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

interface Healthcheck {
  test?: string | string[];
  disable?: boolean;
}
interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: Healthcheck;
  restart?: string;
  profiles?: string[];
  ports?: (string | { target: number; published?: string | number })[];
  expose?: (string | number)[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  container_name?: string;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose;
const services = compose.services;
const RTSA_IMAGE = 'rtsa:local';
const rtsaServices = Object.entries(services).filter(([, s]) => s.image === RTSA_IMAGE);
const ROLES: readonly Role[] = COMMAND_NAMES;

function envOf(s: Service): Record<string, string> {
  const env = s.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((e) => [e.split('=')[0] ?? e, e.split('=').slice(1).join('=')]));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

function dependsOf(s: Service): Record<string, string> {
  const d = s.depends_on ?? {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((name) => [name, 'service_started']));
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v.condition ?? 'service_started']));
}

const hasHealthcheck = (s: Service) =>
  s.healthcheck !== undefined && s.healthcheck.disable !== true && s.healthcheck.test !== undefined;
/** Runs once and exits: restart "no", and either a tool (profile) or awaited by others to complete. */
const isOneShot = (name: string, s: Service) =>
  s.restart === 'no' &&
  ((s.profiles?.length ?? 0) > 0 ||
    Object.values(services).some((o) => dependsOf(o)[name] === 'service_completed_successfully'));
const commandOf = (s: Service) => (Array.isArray(s.command) ? s.command : (s.command ?? '').split(/\s+/));

test('every service has a healthcheck or runs once', () => {
  for (const [name, s] of Object.entries(services)) {
    assert.ok(
      hasHealthcheck(s) || isOneShot(name, s),
      `${name}: add a healthcheck, or make it a one-shot (restart: "no", awaited with service_completed_successfully)`,
    );
    if (!isOneShot(name, s))
      assert.equal(s.restart, 'unless-stopped', `${name}: long-running services restart`);
    // `make up` runs `up --wait`, which counts an exited container as a failure unless a running
    // service adopts it with service_completed_successfully.
    if (isOneShot(name, s) && (s.profiles?.length ?? 0) === 0) {
      const adopters = Object.entries(services).filter(
        ([other, o]) => dependsOf(o)[name] === 'service_completed_successfully' && !isOneShot(other, o),
      );
      assert.ok(adopters.length > 0, `${name}: no long-running service waits for it to complete`);
    }
  }
});

test('images are pinned to explicit versions; rtsa services share the one locally built image', () => {
  for (const [name, s] of Object.entries(services)) {
    assert.ok(s.image, `${name}: no image`);
    const [repo, tag] = s.image.split(/:(?=[^/:]+$)/);
    assert.ok(repo && tag, `${name}: ${s.image} has no tag`);
    assert.notEqual(tag, 'latest', `${name}: ${s.image} is not pinned`);
    if (s.image === RTSA_IMAGE) {
      assert.ok(s.build, `${name}: the rtsa image is built from the Dockerfile`);
      continue;
    }
    // A semantic version, or MinIO's dated release tags (RELEASE.2025-04-22T22-12-26Z).
    assert.match(
      tag,
      /^(v?\d+\.\d+(\.\d+)?(-[\w.]+)?|RELEASE\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z)$/,
      `${name}: pin ${s.image} to a version such as 17.9 or v3.7.3`,
    );
    assert.equal(s.build, undefined, `${name}: third-party images are pulled, not built`);
  }
  const rtsaNames = rtsaServices.map(([n]) => n).sort();
  assert.deepEqual(rtsaNames, [
    'api',
    'batch',
    'generator',
    'lake-bronze',
    'lake-silver',
    'migrate',
    'ops',
    'processor',
    'scheduler',
    'worker',
  ]);
});

test('Kafka runs in KRaft mode (4.x), without ZooKeeper', () => {
  const kafka = services.kafka;
  assert.ok(kafka?.image?.startsWith('apache/kafka:4.'), 'apache/kafka 4.x');
  assert.ok(kafka);
  const env = envOf(kafka);
  assert.deepEqual(env.KAFKA_PROCESS_ROLES?.split(',').sort(), ['broker', 'controller']);
  assert.ok(env.KAFKA_CONTROLLER_QUORUM_VOTERS, 'a controller quorum');
  assert.match(env.CLUSTER_ID ?? '', /^[A-Za-z0-9_-]{22}$/, 'CLUSTER_ID is a base64 UUID (22 characters)');
  assert.equal(env.KAFKA_AUTO_CREATE_TOPICS_ENABLE, 'false', 'rtsa creates its topic (LogAppendTime)');
  for (const [name, s] of Object.entries(services)) {
    assert.doesNotMatch(`${name} ${s.image}`, /zookeeper/i);
    assert.ok(!Object.keys(envOf(s)).some((k) => /ZOOKEEPER/.test(k)), `${name}: ZooKeeper setting`);
  }
  const brokers = envOf(services.processor ?? {}).KAFKA_BROKERS;
  assert.ok(
    env.KAFKA_ADVERTISED_LISTENERS?.includes(`PLAINTEXT://${brokers}`),
    'rtsa uses the advertised listener',
  );
});

test('depends_on: valid conditions, no cycle, and the seed start order', () => {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, trail: string[]) => {
    if (state.get(name) === 'done') return;
    assert.notEqual(state.get(name), 'visiting', `depends_on cycle: ${[...trail, name].join(' → ')}`);
    state.set(name, 'visiting');
    for (const [dep, condition] of Object.entries(dependsOf(services[name] ?? {}))) {
      const target = services[dep];
      assert.ok(target, `${name} depends on unknown service ${dep}`);
      if (condition === 'service_healthy')
        assert.ok(
          hasHealthcheck(target),
          `${name} waits for ${dep} to be healthy, but it has no healthcheck`,
        );
      else if (condition === 'service_completed_successfully')
        assert.ok(isOneShot(dep, target), `${dep} never completes`);
      else
        assert.fail(
          `${name} → ${dep}: use service_healthy or service_completed_successfully, not ${condition}`,
        );
      visit(dep, [...trail, name]);
    }
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of Object.keys(services)) visit(name, []);
  const before = (a: string, b: string) =>
    assert.ok(
      order.indexOf(a) < order.indexOf(b),
      `${a} must start before ${b} (order: ${order.join(', ')})`,
    );
  for (const role of ['processor', 'api']) {
    before('postgres', role);
    before('kafka', role);
    before('migrate', role);
    assert.equal(dependsOf(services[role] ?? {}).migrate, 'service_completed_successfully');
  }
  before('postgres', 'migrate');
  before('processor', 'generator');
  // System B: the DAG's roles wait for the schema; the worker (it writes the warehouse from the
  // lake) for the bucket too.
  for (const role of ['scheduler', 'worker']) {
    before('migrate', role);
    assert.equal(dependsOf(services[role] ?? {}).migrate, 'service_completed_successfully', role);
  }
  assert.equal(dependsOf(services.worker ?? {})['minio-init'], 'service_completed_successfully');
  before('prometheus', 'grafana');
  assert.deepEqual(
    dependsOf(services.ops ?? {}),
    {},
    'smoke/doctor look at whatever runs; they start nothing',
  );
});

test('rtsa services set only settings of the config schema, each one of its role', () => {
  const byEnv = new Map<string, SettingSpec>(Object.values(SETTINGS).map((s) => [s.env, s as SettingSpec]));
  for (const [name, s] of rtsaServices) {
    const command = commandOf(s)[0] as Role;
    assert.ok(ROLES.includes(command), `${name}: command ${command} is not an rtsa role`);
    for (const key of Object.keys(envOf(s))) {
      const spec = byEnv.get(key);
      assert.ok(spec, `${name}: ${key} is not a setting in src/config/schema.ts`);
      const roles = name === 'ops' ? (['smoke', 'doctor'] as const) : [command];
      assert.ok(
        roles.some((r) => settingsFor(r).some(([, s]) => s === spec)),
        `${name}: ${key} does not apply to \`rtsa ${roles.join('/')}\``,
      );
    }
  }
  const processor = envOf(services.processor ?? {});
  assert.equal(
    processor.DATABASE_URL,
    envOf(services.api ?? {}).DATABASE_URL,
    'api and processor share the database',
  );
  // The warehouse's daily partitions need a bigger lock table than Postgres' default (64).
  assert.deepEqual(services.postgres?.command, ['postgres', '-c', 'max_locks_per_transaction=512']);
  const pg = envOf(services.postgres ?? {});
  const url = new URL(processor.DATABASE_URL ?? '');
  assert.equal(url.hostname, 'postgres');
  assert.equal(decodeURIComponent(url.username), pg.POSTGRES_USER);
  assert.equal(decodeURIComponent(url.password), pg.POSTGRES_PASSWORD);
  assert.equal(url.pathname.slice(1), pg.POSTGRES_DB);
  const partitions = new Set(
    rtsaServices.map(([, s]) => envOf(s).RTSA_PARTITIONS).filter((v) => v !== undefined),
  );
  assert.equal(partitions.size, 1, 'every role that may create the topic agrees on RTSA_PARTITIONS');
});

function publishedPorts(s: Service): number[] {
  return (s.ports ?? []).map((p) =>
    typeof p === 'string' ? Number(p.split(':').at(-1)?.split('/')[0]) : p.target,
  );
}

test('ports: API 8000, Grafana 3000, Prometheus 9090 published on loopback; processors scale', () => {
  assert.deepEqual(publishedPorts(services.api ?? {}), [8000]);
  assert.deepEqual(publishedPorts(services.grafana ?? {}), [3000]);
  assert.deepEqual(publishedPorts(services.prometheus ?? {}), [9090]);
  for (const [name, s] of Object.entries(services)) {
    for (const p of s.ports ?? []) {
      assert.ok(
        typeof p === 'string' && p.startsWith('127.0.0.1:'),
        `${name}: publish ${String(p)} on 127.0.0.1 only`,
      );
    }
  }
  // `docker compose up --scale processor=3` (and `--scale worker=2`) needs no fixed name and no host port.
  for (const name of ['processor', 'worker']) {
    assert.equal(services[name]?.container_name, undefined, `${name} scales: no container_name`);
    assert.deepEqual(services[name]?.ports ?? [], [], `${name} scales: no host port`);
  }
  assert.equal(envOf(services.api ?? {}).PORT, '8000');
});

test('mounted deploy/ files exist, named volumes are declared', () => {
  const named = new Set(Object.keys(compose.volumes ?? {}));
  let binds = 0;
  for (const [name, s] of Object.entries(services)) {
    for (const v of s.volumes ?? []) {
      const source = typeof v === 'string' ? v.split(':')[0] : v.source;
      assert.ok(source, `${name}: volume without a source`);
      if (source.startsWith('.') || source.startsWith('/')) {
        binds++;
        assert.ok(source.startsWith('./deploy/'), `${name}: bind-mount only deploy/ files (${source})`);
        assert.ok(existsSync(path.join(ROOT, source)), `${name}: ${source} does not exist`);
      } else {
        assert.ok(named.has(source), `${name}: volume ${source} is not declared under volumes:`);
      }
    }
  }
  assert.ok(binds >= 3, 'Prometheus config and Grafana provisioning + dashboards are mounted');
  for (const v of ['kafka-data', 'postgres-data', 'prometheus-data', 'grafana-data'])
    assert.ok(named.has(v), v);
});

function mountTarget(s: Service, source: string): string | undefined {
  for (const v of s.volumes ?? []) {
    if (typeof v === 'string' && v.split(':')[0] === source) return v.split(':')[1];
  }
  return undefined;
}

test('Prometheus scrapes ports the services serve; Grafana finds its datasource and dashboards', () => {
  assert.equal(mountTarget(services.prometheus ?? {}, './deploy/prometheus'), '/etc/prometheus');
  const prometheus = parse(read('deploy/prometheus/prometheus.yml')) as {
    scrape_configs: {
      job_name: string;
      static_configs?: { targets: string[] }[];
      dns_sd_configs?: { names: string[]; type?: string; port?: number }[];
    }[];
  };
  const targets = prometheus.scrape_configs.flatMap((c) => [
    ...(c.static_configs ?? []).flatMap((s) => s.targets),
    // A service name resolves to every replica (docker's DNS); the port is given beside it.
    ...(c.dns_sd_configs ?? []).flatMap((d) => d.names.map((n) => `${n}:${d.port}`)),
  ]);
  for (const t of targets) {
    const [host, port] = t.split(':');
    if (host === 'localhost') continue; // Prometheus itself
    const s = services[host ?? ''];
    assert.ok(s, `prometheus.yml scrapes ${t}, but there is no service ${host}`);
    const env = envOf(s);
    const serves = [env.PORT, env.RTSA_METRICS_PORT].filter((p) => p !== undefined);
    assert.ok(serves.includes(port ?? ''), `${t}: ${host} serves on ${serves.join(', ') || 'no port'}`);
  }
  assert.ok(
    targets.some((t) => t.startsWith('processor:')),
    'the processors are scraped',
  );
  // Every long-running rtsa role with a metrics port is scraped (system B's too).
  for (const [name, s] of rtsaServices) {
    const port = envOf(s).RTSA_METRICS_PORT;
    if (port === undefined || isOneShot(name, s)) continue;
    assert.ok(targets.includes(`${name}:${port}`), `prometheus.yml does not scrape ${name}:${port}`);
  }

  assert.equal(
    mountTarget(services.grafana ?? {}, './deploy/grafana/provisioning'),
    '/etc/grafana/provisioning',
  );
  const dashboardsAt = mountTarget(services.grafana ?? {}, './deploy/grafana/dashboards');
  const providers = parse(read('deploy/grafana/provisioning/dashboards/dashboards.yml')) as {
    providers: { options: { path: string } }[];
  };
  assert.ok(
    providers.providers.some((p) => p.options.path === dashboardsAt),
    `dashboards mounted at ${dashboardsAt}`,
  );
  const datasources = parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as {
    datasources: { url: string }[];
  };
  assert.ok(datasources.datasources.some((d) => d.url === 'http://prometheus:9090'));
  const env = envOf(services.grafana ?? {});
  assert.equal(env.GF_AUTH_ANONYMOUS_ENABLED, 'true');
  assert.equal(env.GF_AUTH_ANONYMOUS_ORG_ROLE, 'Viewer');
  const home = env.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
  if (home !== undefined && dashboardsAt !== undefined) {
    const file = path.join(ROOT, 'deploy/grafana/dashboards', path.relative(dashboardsAt, home));
    assert.ok(existsSync(file), `the home dashboard ${home} is not in deploy/grafana/dashboards`);
  }
});

test('Dockerfile: multi-stage, pinned Node 24 slim, non-root, healthcheck on /health, one entrypoint', () => {
  const text = read('Dockerfile');
  const froms = [...text.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)].map((m) => m[1] ?? '');
  assert.ok(froms.length >= 2, 'multi-stage');
  for (const image of froms)
    assert.match(image, /^node:24\.\d+\.\d+-[a-z]+-slim$/, `pin ${image} to node:24.x.y-<debian>-slim`);
  assert.match(text, /npm (ci|install) --omit=dev/, 'production dependencies only');
  const users = [...text.matchAll(/^USER\s+(\S+)/gim)].map((m) => m[1]);
  assert.ok(users.length > 0 && !['root', '0'].includes(users.at(-1) ?? 'root'), 'runs as a non-root user');
  assert.match(text, /^HEALTHCHECK .*\n?.*\/health/m);
  assert.doesNotMatch(text, /curl|wget/, 'the healthcheck needs nothing but node');
  assert.match(text, /^ENTRYPOINT \["node", "bin\/rtsa\.js"\]$/m);
  assert.match(text, /^CMD \["start"\]$/m);
  const byEnv = new Set<string>(Object.values(SETTINGS).map((s) => s.env));
  const envBlock = [...text.matchAll(/^ENV\s+((?:.*\\\n)*.*)$/gm)].map((m) => m[1] ?? '').join(' ');
  const names = [...envBlock.matchAll(/([A-Z_][A-Z0-9_]*)=/g)].map((m) => m[1] ?? '');
  assert.ok(names.includes('RTSA_HOST'), 'RTSA_HOST=0.0.0.0: reachable from other containers');
  for (const name of names) assert.ok(byEnv.has(name), `Dockerfile ENV ${name} is not a setting`);
  for (const copied of ['package.json', 'bin', 'src'])
    assert.match(text, new RegExp(`^COPY .*\\b${copied}\\b`, 'm'));
  // The build context holds what the image copies, nothing else.
  const ignore = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim());
  assert.equal(
    ignore.find((l) => l !== '' && !l.startsWith('#')),
    '*',
  );
  for (const kept of ['!package.json', '!package-lock.json', '!bin/', '!src/'])
    assert.ok(ignore.includes(kept), kept);
});

test('Makefile: the seed targets, documented, and a clear message without Docker', () => {
  const text = read('Makefile');
  const targets = new Map(
    [...text.matchAll(/^([a-z][a-z-]*):[^=\n]*?(?:## (.*))?$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']),
  );
  for (const t of ['up', 'down', 'reset', 'smoke', 'doctor', 'ps', 'logs', 'help', 'dev', 'test', 'obs-up']) {
    assert.ok(targets.has(t), `make ${t} is missing`);
    assert.ok(targets.get(t), `make ${t} has no "## description" for make help`);
  }
  assert.match(text, /^\.DEFAULT_GOAL := help$/m);
  assert.match(text, /^reset:.*\n(?:\t.*\n)*?\t.*down --volumes/m, 'reset deletes the volumes');
  assert.match(text, /^smoke:.*\n\t.* run --rm ops smoke/m);
  assert.match(text, /^doctor:.*\n\t.* run --rm ops doctor/m);
  assert.ok(services.ops?.profiles?.length, 'ops is not started by `up`');
  // The seed's lakehouse targets map onto compose services that exist, each documented.
  const docs = read('docs/makefile.md');
  for (const [t, service] of [
    ['submit-bronze', 'lake-bronze'],
    ['submit-silver', 'lake-silver'],
    ['submit-all', 'lake-silver'],
    ['submit-batch', 'batch'],
    // The seed README's other targets.
    ['status', 'api'],
    ['logs-spark', 'lake-silver'],
    ['logs-kafka', 'kafka'],
    ['postgres-shell', 'postgres'],
    ['kafka-topics', 'kafka'],
  ] as const) {
    assert.ok(targets.get(t), `make ${t} is missing or has no "## description"`);
    assert.match(
      text,
      new RegExp(`^${t}:.*\\n(?:\\t.*\\n)*?\\t.*\\b${service}\\b`, 'm'),
      `make ${t} uses ${service}`,
    );
    assert.ok(services[service], `make ${t}: no compose service ${service}`);
    assert.ok(docs.includes(`| \`${t}\` |`), `docs/makefile.md documents make ${t}`);
  }
  assert.equal(envOf(services['lake-bronze'] ?? {}).RTSA_LAKE_LAYERS, 'bronze');
  assert.equal(envOf(services['lake-silver'] ?? {}).RTSA_LAKE_LAYERS, 'silver');

  const make = (...args: string[]) =>
    spawnSync('make', ['--no-print-directory', ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env },
    });
  const probe = make('--version');
  if (probe.error !== undefined) return; // no make on this machine: the text checks above still ran
  const help = make('help');
  assert.equal(help.status, 0, help.stderr);
  for (const t of ['up', 'down', 'reset', 'smoke', 'doctor'])
    assert.match(help.stdout, new RegExp(`\\b${t}\\b`));
  const missing = path.join(ROOT, 'no-such-docker');
  assert.ok(!existsSync(missing));
  const up = make('up', `DOCKER=${missing}`);
  assert.notEqual(up.status, 0);
  assert.match(up.stdout, /make up: needs Docker/);
  assert.match(up.stdout, /make dev/);
  // DATE is passed on as --date; without it the load takes its own default (yesterday, UTC).
  const batch = make('-n', 'submit-batch', 'DATE=2024-12-17', 'DOCKER=true');
  assert.match(batch.stdout, /run --rm batch warehouse load --date 2024-12-17$/m);
  assert.match(make('-n', 'submit-batch', 'DOCKER=true').stdout, /run --rm batch warehouse load\s*$/m);
});

test('the deploy folder the compose file mounts is a folder', () => {
  for (const dir of ['deploy/prometheus', 'deploy/grafana/provisioning', 'deploy/grafana/dashboards']) {
    assert.ok(statSync(path.join(ROOT, dir)).isDirectory(), dir);
  }
});
