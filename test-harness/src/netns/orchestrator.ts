/**
 * One orchestratord replica of the cluster: CLOUD profile on 127.0.0.1 of the root namespace, a port chosen once so
 * that a restart keeps its URL, polling the nodes over mutual TLS with the cluster's client certificate.
 */
import { freePort } from '../free-port.ts';
import { ORCHESTRATORD_CLI } from '../orchestratord-process.ts';
import { startProcess, stopProcess, waitFor, type RunningProcess } from '../processes.ts';
import type { NetOrchestratord } from './types.ts';
import { DAEMON_NODE_FLAGS } from '@llama-orch/lifecycle';

const LISTEN_BUDGET_MS = 60_000;

export class ClusterOrchestratord implements NetOrchestratord {
  private proc: RunningProcess | null = null;
  private earlierLogs = '';

  readonly url: string;
  private readonly env: Readonly<Record<string, string>>;

  private constructor(url: string, env: Readonly<Record<string, string>>) {
    this.url = url;
    this.env = env;
  }

  static async start(env: Readonly<Record<string, string>>): Promise<ClusterOrchestratord> {
    const port = await freePort();
    const replica = new ClusterOrchestratord(`http://127.0.0.1:${port}`, {
      ...env,
      ORCHD_BIND_ADDR: `127.0.0.1:${port}`,
    });
    await replica.start();
    return replica;
  }

  async start(): Promise<void> {
    if (this.proc !== null) return;
    const { PROMETHEUS_METRICS_PORT: _metrics, ...inherited } = process.env;
    const proc = startProcess(process.execPath, [...DAEMON_NODE_FLAGS, ORCHESTRATORD_CLI], {
      ...inherited,
      ...this.env,
    });
    this.proc = proc;
    let exited = false;
    void proc.exited.then(() => (exited = true));
    try {
      await waitFor(
        `orchestratord to listen on ${this.url}`,
        () => {
          if (exited) throw new Error(`orchestratord exited before listening:\n${proc.output()}`);
          return proc.output().includes('"orchestratord listening"') ? true : undefined;
        },
        LISTEN_BUDGET_MS,
      );
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc === null) return;
    await stopProcess(proc);
    this.earlierLogs += proc.output();
    this.proc = null;
  }

  async kill(): Promise<void> {
    const proc = this.proc;
    if (proc === null) return;
    proc.child.kill('SIGKILL');
    await proc.exited;
    this.earlierLogs += proc.output();
    this.proc = null;
  }

  logs(): string {
    return this.earlierLogs + (this.proc?.output() ?? '');
  }

  /** The pid while it runs (for the exit guard). */
  pid(): number | undefined {
    return this.proc?.child.pid;
  }
}
