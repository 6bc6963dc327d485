export const USAGE = `llorch — operator CLI of llama-orch

Usage:
  llorch home [--config <file>] [--model <ref>]   run engine-provisioner, pool-managerd and orchestratord on this machine
  llorch --help                                   show this help
  llorch --version                                print the version

Not built yet (see the open issues): status, chat, submit, pools drain|reload, certs init|issue.
`;
