/** Writes the docs generated from the schemas: docs/configuration.md and docs/events.md. */
import { writeFile } from 'node:fs/promises';
import { configurationMarkdown } from '../src/config/docs.ts';
import { eventsMarkdown } from '../src/events/docs.ts';

await writeFile('docs/configuration.md', configurationMarkdown());
await writeFile('docs/events.md', eventsMarkdown());
console.log('wrote docs/configuration.md and docs/events.md');
