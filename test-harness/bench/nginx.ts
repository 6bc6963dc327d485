/** nginx (Debian's package, `least_conn`) in front of an engine: what a user might run instead of the stack. */
import { execFile } from 'node:child_process';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { freePort } from '../src/free-port.ts';
import { startProcess, stopProcess, waitFor } from '../src/processes.ts';

const NGINX = '/usr/sbin/nginx';

export interface Nginx {
  readonly url: string;
  readonly stop: () => Promise<void>;
}

/** nginx when it is there or apt-get can install it (root only); null with the reason otherwise. */
async function ensureNginx(log: (line: string) => void): Promise<string | null> {
  if (
    await access(NGINX).then(
      () => true,
      () => false,
    )
  )
    return null;
  if (process.getuid?.() !== 0) return 'nginx is not installed and this is not root';
  log('  installing nginx-light with apt-get');
  try {
    await promisify(execFile)('apt-get', ['install', '-y', 'nginx-light'], { timeout: 300_000 });
  } catch (error) {
    return `apt-get install nginx-light failed: ${(error as Error).message.split('\n')[0] ?? ''}`;
  }
  return (await access(NGINX).then(
    () => true,
    () => false,
  ))
    ? null
    : 'nginx-light installed no /usr/sbin/nginx';
}

export async function startNginx(engineUrl: string, log: (line: string) => void): Promise<Nginx | string> {
  const missing = await ensureNginx(log);
  if (missing !== null) return missing;
  const dir = await mkdtemp(join(tmpdir(), 'llorch-bench-nginx-'));
  await mkdir(join(dir, 'logs'));
  const port = await freePort();
  const engine = new URL(engineUrl).host;
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `${kind}_temp_path ${join(dir, kind)};`)
    .join(' ');
  await writeFile(
    join(dir, 'nginx.conf'),
    `${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes auto;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'logs', 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  ${temp}
  # No upstream keep-alive: llama-server closes idle sockets nginx would reuse (502s at 16 streams).
  upstream engine { least_conn; server ${engine}; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://engine;
      proxy_http_version 1.1;
      proxy_buffering off;
      proxy_read_timeout 600s;
    }
  }
}
`,
  );
  const proc = startProcess(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], process.env);
  const stop = async (): Promise<void> => {
    await stopProcess(proc);
    await rm(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      'nginx to answer',
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`nginx exited: ${proc.output()}`);
        const answer = await request(`${url}/health`).catch(() => null);
        await answer?.body.dump();
        return answer?.statusCode === 200 ? true : undefined;
      },
      15_000,
    );
  } catch (error) {
    await stop();
    return (error as Error).message;
  }
  return { url, stop };
}
