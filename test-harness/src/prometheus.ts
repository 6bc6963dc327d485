/**
 * A real Prometheus server for tests: the Debian package's `prometheus` and `promtool`, installed once when missing
 * (as root, non-interactive), started on a free loopback port with a temporary config and TSDB directory — never
 * the system service. Stopped by pid; its directory is removed however the test ends.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { commandsFrom } from './debian-packages.ts';
import { freePort } from './free-port.ts';
import { startProcess, stopProcess, waitFor, type RunningProcess } from './processes.ts';

export interface PrometheusTools {
  readonly prometheus: string;
  readonly promtool: string;
}

/** `prometheus` and `promtool` from PATH, from the Debian package prometheus when they are missing. */
export async function prometheusTools(): Promise<PrometheusTools> {
  const [prometheus = '', promtool = ''] = await commandsFrom('prometheus', ['prometheus', 'promtool']);
  return { prometheus, promtool };
}

/** One value of an instant query: its labels and the number. */
export interface Sample {
  readonly metric: Record<string, string>;
  readonly value: number;
}

export interface PrometheusServer {
  readonly url: string;
  readonly proc: RunningProcess;
  /** An instant query over the HTTP API; a query error fails with Prometheus' own message. */
  query(expr: string): Promise<Sample[]>;
  /** The active targets and their last scrape's health. */
  targets(): Promise<{ job: string; instance: string; health: string; lastError: string }[]>;
  /** The alerting and recording rules as loaded, with their health. */
  rules(): Promise<{ name: string; type: string; health: string; lastError?: string }[]>;
  stop(): Promise<void>;
}

interface ApiAnswer<T> {
  status: 'success' | 'error';
  data: T;
  error?: string;
}

async function api<T>(url: string): Promise<T> {
  const answer = await request(url, { signal: AbortSignal.timeout(10_000) });
  const body = (await answer.body.json()) as ApiAnswer<T>;
  if (body.status !== 'success') throw new Error(`${url}: ${body.error ?? `HTTP ${answer.statusCode}`}`);
  return body.data;
}

/**
 * Start Prometheus with `config` (YAML text; `rule_files` may name absolute paths) on 127.0.0.1, its TSDB in a
 * temporary directory. Resolves once `/-/ready` answers 200.
 */
export async function startPrometheus(config: string): Promise<PrometheusServer> {
  const tools = await prometheusTools();
  const dir = await mkdtemp(join(tmpdir(), 'llorch-prometheus-'));
  let proc: RunningProcess | null = null;
  const stop = async (): Promise<void> => {
    if (proc !== null) await stopProcess(proc);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const configFile = join(dir, 'prometheus.yml');
    await writeFile(configFile, config);
    const port = await freePort();
    const started = startProcess(
      tools.prometheus,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--web.enable-lifecycle',
      ],
      process.env,
      dir,
    );
    proc = started;
    const url = `http://127.0.0.1:${port}`;
    let exited = false;
    void started.exited.then(() => (exited = true));
    await waitFor(
      'prometheus to be ready',
      async () => {
        if (exited) throw new Error(`prometheus exited:\n${started.output()}`);
        const ready = await request(`${url}/-/ready`, { signal: AbortSignal.timeout(2_000) }).catch(() => null);
        await ready?.body.dump();
        return ready?.statusCode === 200 ? true : undefined;
      },
      60_000,
      200,
    );
    return {
      url,
      proc: started,
      async query(expr) {
        const data = await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
          `${url}/api/v1/query?query=${encodeURIComponent(expr)}`,
        );
        return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
      },
      async targets() {
        const data = await api<{
          activeTargets: { labels: Record<string, string>; health: string; lastError: string }[];
        }>(`${url}/api/v1/targets`);
        return data.activeTargets.map((t) => ({
          job: t.labels['job'] ?? '',
          instance: t.labels['instance'] ?? '',
          health: t.health,
          lastError: t.lastError,
        }));
      },
      async rules() {
        const data = await api<{
          groups: { rules: { name: string; type: string; health: string; lastError?: string }[] }[];
        }>(`${url}/api/v1/rules`);
        return data.groups.flatMap((g) => g.rules);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
