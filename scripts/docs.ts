/** Writes the docs generated from the schemas: docs/configuration.md, docs/events.md and docs/api.md. */
import { writeFile } from 'node:fs/promises';
import { apiMarkdown } from '../src/realtime/api/api-docs.ts';
import { openApiDocument } from '../src/runtime/api-role.ts';
import { configurationMarkdown } from '../src/config/docs.ts';
import { eventsMarkdown } from '../src/events/docs.ts';

await writeFile('docs/configuration.md', configurationMarkdown());
await writeFile('docs/events.md', eventsMarkdown());
await writeFile('docs/api.md', apiMarkdown(await openApiDocument()));
console.log('wrote docs/configuration.md, docs/events.md and docs/api.md');
