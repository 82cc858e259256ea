#!/usr/bin/env node
// Entry point of the `rtsa` command. The sources are TypeScript run by Node's type stripping
// (Node >= 22.18); `npx rtsa` and npm scripts find the Node 24 this project installs.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(
    `rtsa needs Node.js >= 22.18 (this is ${process.version}). Run it through npm (\`npm start\`, \`npx rtsa\`), ` +
      'which uses the Node 24 installed in node_modules, or install a newer Node.',
  );
  process.exit(1);
}
await import('../src/cli/main.ts');
