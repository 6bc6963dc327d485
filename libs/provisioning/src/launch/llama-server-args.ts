export interface LaunchSpec {
  readonly binary: string;
  readonly modelPath: string;
  readonly ctx: number;
  readonly slots: number;
  readonly device: 'cpu' | 'cuda';
  readonly gpus: readonly number[];
}

export interface LaunchCommand {
  readonly argv: readonly string[];
  /** Environment added to the engine's: CUDA_VISIBLE_DEVICES selects the pool's GPUs. */
  readonly env: Readonly<Record<string, string>>;
}

/** The llama-server command line of one replica; `port` may be a placeholder in plans. */
export function llamaServerCommand(spec: LaunchSpec, port: number | '{port}'): LaunchCommand {
  const argv = [
    spec.binary,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '-m',
    spec.modelPath,
    // llama-server splits -c across its slots; ctx in our config is what each request may use.
    '-c',
    String(spec.ctx * spec.slots),
    '-np',
    String(spec.slots),
    '--metrics',
    '--slots',
    '--no-webui',
    '--n-gpu-layers',
    spec.device === 'cuda' ? '999' : '0',
  ];
  const env: Record<string, string> = {};
  if (spec.device === 'cuda' && spec.gpus.length > 0) env['CUDA_VISIBLE_DEVICES'] = spec.gpus.join(',');
  if (spec.device === 'cpu') env['CUDA_VISIBLE_DEVICES'] = '';
  return { argv, env };
}
