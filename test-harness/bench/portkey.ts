/** @portkey-ai/gateway (npm) in front of an engine, non-streaming only (its streaming fails on current Node). */
import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freePort } from '../src/free-port.ts';
import { startProcess, stopProcess, waitFor } from '../src/processes.ts';
import type { Target } from './stream-client.ts';

const SERVER = fileURLToPath(new URL('../../node_modules/@portkey-ai/gateway/build/start-server.js', import.meta.url));

export interface Portkey {
  readonly target: Target;
  readonly stop: () => Promise<void>;
}

export async function startPortkey(engineUrl: string): Promise<Portkey | string> {
  if (
    !(await access(SERVER).then(
      () => true,
      () => false,
    ))
  )
    return '@portkey-ai/gateway is not installed';
  const port = await freePort();
  const proc = startProcess(process.execPath, [SERVER, `--port=${port}`, '--headless'], {
    ...process.env,
    NODE_ENV: 'production',
  });
  const target: Target = {
    name: '@portkey-ai/gateway',
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    headers: {
      'x-portkey-provider': 'openai',
      'x-portkey-custom-host': `${engineUrl}/v1`,
      authorization: 'Bearer bench',
    },
  };
  const stop = (): Promise<void> => stopProcess(proc);
  try {
    await waitFor(
      '@portkey-ai/gateway to answer',
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`it exited: ${proc.output().slice(-500)}`);
        const answer = await request(target.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...target.headers },
          body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
        }).catch(() => null);
        const text = (await answer?.body.text()) ?? '';
        if (answer && answer.statusCode !== 200) throw new Error(`HTTP ${answer.statusCode}: ${text.slice(0, 300)}`);
        return answer?.statusCode === 200 ? true : undefined;
      },
      30_000,
    );
  } catch (error) {
    await stop();
    return `@portkey-ai/gateway did not relay: ${(error as Error).message}`;
  }
  return { target, stop };
}
