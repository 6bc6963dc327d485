/**
 * Writes the OpenAPI documents (openapi/*.yaml) and the file schemas (schemas/*.schema.json) from the
 * runtime schemas. `--check` compares instead of writing and exits 1 when a committed file is stale.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { generatedFiles } from './generated-files.ts';

const check = process.argv.includes('--check');
let stale = 0;
for (const [relative, render] of Object.entries(generatedFiles)) {
  const file = fileURLToPath(new URL(`../${relative}`, import.meta.url));
  const text = render();
  if (check) {
    const committed = await readFile(file, 'utf8').catch(() => '');
    if (committed !== text) {
      stale += 1;
      console.error(`${relative} is stale: run npm run openapi`);
    }
  } else {
    await writeFile(file, text);
    console.log(`wrote ${file}`);
  }
}
process.exitCode = stale === 0 ? 0 : 1;
