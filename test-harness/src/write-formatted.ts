import { writeFile } from 'node:fs/promises';
import { format, resolveConfig } from 'prettier';

/** Write a report as the repository's Prettier settings format it, so `npm run format:check` passes on it as written. */
export async function writeFormatted(file: string, text: string): Promise<void> {
  const options = (await resolveConfig(file)) ?? {};
  await writeFile(file, await format(text, { ...options, filepath: file }));
}
