/** The images deploy/build-images.sh builds, and paths inside them as paths of this checkout. */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './deploy-settings.ts';

/** The images deploy/build-images.sh builds: `llama-orch/<dir>:<version>` for each deploy/<dir>/Containerfile. */
export function containerfileImages(): Map<string, string> {
  const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const deploy = join(REPO_ROOT, 'deploy');
  const images = new Map<string, string>();
  for (const entry of readdirSync(deploy, { withFileTypes: true }))
    if (entry.isDirectory() && existsSync(join(deploy, entry.name, 'Containerfile')))
      images.set(`llama-orch/${entry.name}:${version}`, relative(REPO_ROOT, join(deploy, entry.name, 'Containerfile')));
  return images;
}

/**
 * A path inside an image as a path in this checkout, through the Containerfile's `COPY app/ <dir>` (the build
 * context's app/ is the repository's files); null when the image does not copy it.
 */
export function repoPathInImage(image: string, path: string): string | null {
  const containerfile = containerfileImages().get(image);
  if (containerfile === undefined) return null;
  const copy = /^COPY\s+app\/\s+(\S+?)\/?\s*$/m.exec(readFileSync(join(REPO_ROOT, containerfile), 'utf8'));
  const root = copy?.[1];
  if (root === undefined || !path.startsWith(`${root}/`)) return null;
  return join(REPO_ROOT, path.slice(root.length + 1));
}
