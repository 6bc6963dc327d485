import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCa, hostProblem, issueCertificate, loadCa } from '@llama-orch/tls';

async function write(dir: string, name: string, text: string, secret: boolean): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text, { mode: secret ? 0o600 : 0o644, flag: 'wx' });
  return path;
}

/** `llorch certs init --dir <dir>`: a private CA for one cluster (ca.crt, ca.key). Refuses to overwrite. */
export async function certsInit(dir: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  try {
    const ca = await createCa('llama-orch CA');
    const files = [await write(dir, 'ca.crt', ca.cert, false), await write(dir, 'ca.key', ca.key, true)];
    process.stdout.write(`wrote ${files.join(', ')}; keep ca.key private\n`);
    return 0;
  } catch (error) {
    process.stderr.write(
      `llorch certs init: ${(error as NodeJS.ErrnoException).code === 'EEXIST' ? `${dir} already has a CA` : (error as Error).message}\n`,
    );
    return 1;
  }
}

/**
 * `llorch certs issue --dir <dir> --name <cn> --usage server|client [--host h]…`: a certificate from the CA. A host is
 * an IP address, a DNS name or a wildcard `*.<name>` (the pods of a headless Service); any other is a usage error.
 */
export async function certsIssue(
  dir: string,
  name: string,
  usage: 'server' | 'client' | 'both',
  hosts: readonly string[],
): Promise<number> {
  for (const host of hosts) {
    const problem = hostProblem(host);
    if (problem === null) continue;
    process.stderr.write(`llorch certs issue: --host ${host}: ${problem}\n`);
    return 2;
  }
  try {
    const ca = await loadCa({
      cert: await readFile(join(dir, 'ca.crt'), 'utf8'),
      key: await readFile(join(dir, 'ca.key'), 'utf8'),
    });
    const pair = await issueCertificate(ca, { commonName: name, usage, hosts });
    const files = [await write(dir, `${name}.crt`, pair.cert, false), await write(dir, `${name}.key`, pair.key, true)];
    process.stdout.write(`wrote ${files.join(', ')}\n`);
    return 0;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT'
        ? `no CA in ${dir}: run \`llorch certs init --dir ${dir}\` first`
        : code === 'EEXIST'
          ? `${name}.crt already exists in ${dir}`
          : (error as Error).message;
    process.stderr.write(`llorch certs issue: ${message}\n`);
    return 1;
  }
}
