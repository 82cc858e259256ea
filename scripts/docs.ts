import { writeFile } from 'node:fs/promises';
import { configurationMarkdown } from '../src/config/docs.ts';

await writeFile('docs/configuration.md', configurationMarkdown());
console.log('wrote docs/configuration.md');
