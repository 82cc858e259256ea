import { commandsOfArea } from './commands.ts';
import { AREAS, type Area, SETTINGS, type SettingSpec } from './schema.ts';

/** docs/configuration.md, generated from the settings table (`npm run docs`). */
export function configurationMarkdown(): string {
  const lines = [
    '# Configuration',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Every setting is an environment variable and a CLI flag (the flag wins). Values are checked at',
    'start; a bad one stops the command with a message naming the setting and the fix. Unknown flags',
    'are refused. Durations take `ms`, `s`, `m`, `h`, `d` (e.g. `500ms`, `10m`).',
    '',
    'Settings are grouped by area; each command reads the areas listed under it.',
  ];
  for (const [area, title] of Object.entries(AREAS) as [Area, string][]) {
    const specs = (Object.values(SETTINGS) as SettingSpec[]).filter((s) => s.area === area);
    if (specs.length === 0) continue;
    lines.push(
      '',
      `## ${title}`,
      '',
      `Area \`${area}\`, read by: ${commandsOfArea(area)
        .map((c) => `\`${c}\``)
        .join(', ')}.`,
      '',
      '| Environment | Flag | Default | Meaning |',
      '| --- | --- | --- | --- |',
    );
    for (const spec of specs) {
      const flag = spec.kind === 'bool' ? `\`--${spec.flag}\` / \`--no-${spec.flag}\`` : `\`--${spec.flag}\``;
      const def = spec.default === undefined ? '—' : `\`${spec.default}\``;
      const choices = spec.choices ? ` One of: ${spec.choices.map((c) => `\`${c}\``).join(', ')}.` : '';
      lines.push(`| \`${spec.env}\` | ${flag} | ${def} | ${spec.doc}${choices} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}
