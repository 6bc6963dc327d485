export const USAGE = `llorch — operator CLI of llama-orch

Usage:
  llorch home [--config <file>] [--model <ref>]     engines, pool-managerd and orchestratord on this machine
  llorch status [--json]                            pools, slots, VRAM, queue depth (orchestratord at $LLORCH_URL)
  llorch chat "<prompt>" [--model <m>] [--max-tokens <n>]
  llorch submit "<prompt>" [--model <m>] [--max-tokens <n>] [--priority interactive|batch] [--session <id>]
  llorch pools drain <pool> [--deadline-ms <n>] | llorch pools reload <pool> --model <ref>
  llorch certs init --dir <dir>                     a private CA for the CLOUD profile
  llorch certs issue --dir <dir> --name <cn> --usage server|client [--host <h>]...
  llorch --help | --version

Environment: LLORCH_URL (orchestratord, default http://127.0.0.1:8080), LLORCH_API_KEY, LLORCH_CONFIG, and for
\`home\` the daemons' own variables (ORCHD_BIND_ADDR, POOL_MANAGERD_BIND_ADDR, POOL_MANAGERD_RUNTIME_DIR, …).
`;
