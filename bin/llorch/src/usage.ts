/** The commands `llorch` knows, in the order the overview lists them. */
export const COMMANDS = [
  'home',
  'status',
  'chat',
  'submit',
  'models',
  'pull',
  'logs',
  'usage',
  'pools',
  'service',
  'certs',
] as const;
export type Command = (typeof COMMANDS)[number];

export const isCommand = (word: string): word is Command => (COMMANDS as readonly string[]).includes(word);

export const USAGE = `llorch — operator CLI of llama-orch

Usage:
  llorch home [--config <file>] [--model <ref>] [--insecure-lan]
                                                    engines, pool-managerd and orchestratord on this machine
  llorch status [--json]                            pools, slots, VRAM, queue depth (orchestratord at $LLORCH_URL)
  llorch chat ["<prompt>"] [--model <m>] [--system <text>] [--max-tokens <n>]
                                                    one answer, or a conversation without a prompt
  llorch submit "<prompt>" [--model <m>] [--max-tokens <n>] [--priority interactive|batch] [--session <id>]
  llorch models [--config <file>] [--json]          configured models: pools, files, sizes, state; the cache
  llorch pull <ref> [--sha256 <hex>]                download a model into the cache (starts nothing)
  llorch logs [--follow] [--lines <n>|all] [--requests] [orchestratord|pool-managerd|<pool>]
  llorch usage [--since <time>] [--until <time>] [--identity <id>] [--json | --csv]
                                                    tasks, tokens and GPU time per identity and model (the ledger)
  llorch pools drain <pool> [--deadline-ms <n>] | llorch pools reload <pool> --model <ref>
  llorch service install [--config <file>|--model <ref>] [--now] | llorch service uninstall [--now]
  llorch certs init --dir <dir>                     a private CA for the CLOUD profile's mutual TLS
  llorch certs issue --dir <dir> --name <cn> --usage server|client|both [--host <h>]...
  llorch <command> --help | llorch --help | llorch --version

Environment: LLORCH_URL (orchestratord; default: the llorch home running for this state directory, else
http://127.0.0.1:8080), LLORCH_API_KEY, LLORCH_CONFIG, POOL_MANAGERD_RUNTIME_DIR (the state directory), and for
\`home\` the daemons' own variables (ORCHD_BIND_ADDR, POOL_MANAGERD_BIND_ADDR, …).
`;

const TALKS =
  'Talks to orchestratord at $LLORCH_URL (default: the llorch home running for this state directory, else\nhttp://127.0.0.1:8080), with $LLORCH_API_KEY if set.';

/** `llorch <command> --help`: what the command does, its arguments and its options. */
export const COMMAND_USAGE: Record<Command, string> = {
  home: `Usage: llorch home [--config <file>] [--model <ref>] [--insecure-lan]

Runs pool-managerd (with its engines) and orchestratord on this machine, on loopback, until Ctrl-C.
With no config the labelled demo pool; --model serves one model (hf:<org>/<repo>/<file.gguf>, https://…,
file:<path>); --config (or $LLORCH_CONFIG) serves the pools of a node config file. The logs go to
<state dir>/logs (llorch logs reads them).

Options:
  -c, --config <file>   the node/pool config file
  -m, --model <ref>     one pool for this model
  --insecure-lan        let ORCHD_BIND_ADDR name a non-loopback address without ORCHD_API_KEYS (no
                        authentication: anyone who reaches it can use the API and drain or reload pools)
`,
  status: `Usage: llorch status [--json]

Pools, busy/total slots, VRAM, device, model and the admission queue depth.
${TALKS}

Options:
  --json   the same as JSON
`,
  chat: `Usage: llorch chat ["<prompt>"] [--model <m>] [--system <text>] [--max-tokens <n>]

With a prompt: streams one answer and exits. Without one: a conversation (the history is kept and sent with
every turn). On a terminal, Ctrl-C cancels the answer being written (the task is canceled on the server) and
a second Ctrl-C at the prompt, Ctrl-D or /bye leaves; /clear forgets the history. With stdin piped, every line
is one turn and only the answers are printed.
${TALKS}

Options:
  -m, --model <m>        a model ref or pool id (default: the first model orchestratord lists)
  --system <text>        a system message that starts the conversation
  --max-tokens <n>       at most n tokens per answer (default 512; 128 with a prompt)
`,
  submit: `Usage: llorch submit "<prompt>" [--model <m>] [--max-tokens <n>] [--priority interactive|batch] [--session <id>]

Runs a native /v2 task and prints its admission and every event as \`<event> <json>\` lines.
${TALKS}

Options:
  -m, --model <m>        model ref or pool id (default demo)
  --max-tokens <n>       at most n tokens (default 128)
  --priority <p>         interactive (default) or batch
  --session <id>         keep the turns of a session on one pool
`,
  models: `Usage: llorch models [--config <file>] [--json]

The configured models with their pools, files, sizes and state (as orchestratord reports them, and the handoffs
of the HOME tree of $POOL_MANAGERD_RUNTIME_DIR), then every model in the cache ($ENGINE_PROVISIONER_CACHE_DIR,
the config's cache_dir, or ~/.cache/llama-orch).

Options:
  -c, --config <file>   the node/pool config (default $LLORCH_CONFIG)
  --json                the same as JSON
`,
  pull: `Usage: llorch pull <ref> [--sha256 <hex>] [--config <file>]

Downloads a model (hf:<org>/<repo>/<file.gguf>, https://…) into the cache llorch home uses, with progress,
and checks it is GGUF; starts nothing. An interrupted download resumes. file:<path> is checked in place.
$HF_ENDPOINT and $HF_TOKEN apply to hf: references.

Options:
  --sha256 <hex>        the expected SHA-256 of the file
  -c, --config <file>   take the cache directory from this node config (default $LLORCH_CONFIG)
`,
  logs: `Usage: llorch logs [--follow] [--lines <n>|all] [--requests] [orchestratord|pool-managerd|<pool>]

The logs of the HOME tree of this state directory ($POOL_MANAGERD_RUNTIME_DIR, default
~/.local/state/llama-orch), rotated files included, one readable line each. Without a name: both daemons,
interleaved by time; a pool's name: its engines' logs beside the daemons' lines about that pool.

Options:
  -f, --follow          keep printing new lines (across rotations) until Ctrl-C
  -n, --lines <n>|all   the last n lines (default 200)
  --requests            only the request log: task, pool, outcome, status and times of every dispatch
  --json                the lines as they are in the files
`,
  usage: `Usage: llorch usage [--since <time>] [--until <time>] [--identity <id>] [--json | --csv]

The usage ledger of orchestratord: tasks, input and output tokens, engine time and GPU-seconds per identity and
model over a window (default: today, UTC), then today's standing against the daily budgets where
ORCHD_BUDGETS_FILE sets any. Needs orchestratord with a journal (ORCHD_DATABASE_URL; llorch home has one).
A client key sees only its own identity; an admin key sees all, or one with --identity.
${TALKS}

Options:
  --since <time>        from this time: ISO 8601 (2025-01-31 is 00:00 UTC; 2025-01-31T08:00 without a zone is
                        local time), ms since the epoch, or a time ago: 30m, 24h, 7d (s, m, h, d, w)
                        (default: 00:00 UTC today)
  --until <time>        up to this time, in the same forms (default: now)
  --identity <id>       only this identity (key:1a2b3c, oidc:alice, anonymous); an admin's choice
  --json                the report as orchestratord answers it
  --csv                 the usage rows as CSV (a header line; RFC 4180 quoting)
`,
  pools: `Usage: llorch pools drain <pool> [--deadline-ms <n>]
       llorch pools reload <pool> --model <ref>

Drain a pool (in-flight work runs until the deadline) or reload it with another model (rolled back, and a
non-zero exit, when the new model does not come up).
${TALKS}

Options:
  --deadline-ms <n>     drain deadline (default 30000)
  -m, --model <ref>     the model to reload with
`,
  service: `Usage: llorch service install [--config <file> | --model <ref>] [--now]
       llorch service uninstall [--now]

Writes (or removes) a systemd user unit, llorch-home.service in $XDG_CONFIG_HOME/systemd/user (default
~/.config/systemd/user), that runs \`llorch home\` with this node and llorch, restarted on failure, so the HOME
tree survives a reboot. Prints the systemctl lines to run; --now runs them.

Options:
  -c, --config <file>   the node/pool config the service runs (default $LLORCH_CONFIG)
  -m, --model <ref>     one pool for this model
  --now                 also run systemctl --user daemon-reload and enable --now (disable --now on uninstall)
`,
  certs: `Usage: llorch certs init --dir <dir>
       llorch certs issue --dir <dir> --name <cn> --usage server|client|both [--host <h>]...

init makes a private CA (ca.crt, ca.key) for the CLOUD profile's mutual TLS; issue makes a certificate and key
from it: server for a node's pool-managerd (--host for each name it is reached by), client for orchestratord,
both for one that is both. Never overwrites a file.

Options:
  --dir <dir>           where the CA and certificates live
  --name <cn>           the certificate's common name (and file name)
  --usage <u>           server, client or both
  --host <h>            a DNS name or IP address of the server (repeatable)
`,
};
