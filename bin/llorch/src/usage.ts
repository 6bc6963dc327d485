export const USAGE = `llorch — operator CLI of llama-orch

Usage:
  llorch home [--config <file>] [--model <ref>]     engines, pool-managerd and orchestratord on this machine
  llorch status [--json]                            pools, slots, VRAM, queue depth (orchestratord at $LLORCH_URL)
  llorch chat "<prompt>" [--model <m>] [--max-tokens <n>]
  llorch certs init --dir <dir>                     a private CA for the CLOUD profile
  llorch certs issue --dir <dir> --name <cn> --usage server|client [--host <h>]...
  llorch --help | --version

Not built yet: submit, pools drain|reload (use the HTTP API meanwhile).
`;
