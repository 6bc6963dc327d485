import { createInterface, type Interface } from 'node:readline';
import type { LlorchEnv } from '../config.ts';
import { defaultModel, streamTurn, type ChatMessage, type TurnOutcome } from './chat-stream.ts';
import { terminal, type Output } from './output.ts';

export interface ConversationOptions {
  readonly model: string | undefined;
  readonly system: string | undefined;
  readonly maxTokens: number;
}

const HELP =
  'Ctrl-C cancels an answer; Ctrl-C twice at the prompt, Ctrl-D or /bye leaves; /clear forgets the conversation.';

/** The conversation so far: every answered turn, sent again with the next one. */
class History {
  readonly #system: readonly ChatMessage[];
  #turns: ChatMessage[] = [];

  constructor(system: string | undefined) {
    this.#system = system === undefined ? [] : [{ role: 'system', content: system }];
  }

  /** The messages to send for a new question. */
  ask(question: string): ChatMessage[] {
    return [...this.#system, ...this.#turns, { role: 'user', content: question }];
  }

  /** Keep an answered turn; a canceled or failed one is not kept. */
  answered(question: string, answer: string): void {
    this.#turns.push({ role: 'user', content: question }, { role: 'assistant', content: answer });
  }

  clear(): void {
    this.#turns = [];
  }
}

/**
 * `llorch chat` without a prompt: a conversation. On a terminal, a prompt with line editing; Ctrl-C cancels the
 * answer being written (the task is canceled on the server) and, at the prompt, a second Ctrl-C leaves, as do
 * Ctrl-D and /bye. With stdin piped, every line is a turn and only the answers are printed.
 */
export async function chatConversation(env: LlorchEnv, options: ConversationOptions): Promise<number> {
  const { stdout, stderr } = terminal();
  let model = options.model ?? null;
  try {
    model ??= await defaultModel(env);
  } catch (error) {
    stderr.write(`llorch chat: orchestratord at ${env.url}: ${(error as Error).message}\n`);
    return 1;
  }
  if (model === null) {
    stderr.write(`llorch chat: no model is ready yet at ${env.url} (llorch status shows the pools)\n`);
    return 1;
  }
  const history = new History(options.system);
  const ask = (question: string, stop: AbortSignal): Promise<TurnOutcome> =>
    streamTurn(
      env,
      { model, messages: history.ask(question), maxTokens: options.maxTokens },
      (text) => stdout.write(text),
      AbortSignal.any([stop, stdout.gone]),
    );
  const interactive = process.stdin.isTTY === true && stdout.isTTY;
  try {
    return interactive
      ? await converse(model, history, ask, stdout, stderr, options.maxTokens)
      : await pipeTurns(history, ask, stdout, stderr);
  } finally {
    // Nothing more is read: a writer still holding the other end of the pipe must not keep the process alive.
    process.stdin.destroy();
  }
}

type Ask = (question: string, stop: AbortSignal) => Promise<TurnOutcome>;

/** Piped stdin: one turn per non-empty line, answers only; the first failure ends it with exit code 1. */
async function pipeTurns(history: History, ask: Ask, stdout: Output, stderr: Output): Promise<number> {
  const lines = createInterface({ input: process.stdin, terminal: false, crlfDelay: Infinity });
  const never = new AbortController().signal;
  for await (const question of lines) {
    if (question.trim() === '') continue;
    const outcome = await ask(question, never);
    switch (outcome.kind) {
      case 'done':
        stdout.write('\n');
        history.answered(question, outcome.text);
        break;
      case 'canceled': // the reader of stdout went away
        lines.close();
        return 0;
      case 'failed':
        if (outcome.text !== '') stdout.write('\n');
        stderr.write(`llorch chat: ${outcome.message}\n`);
        lines.close();
        return 1;
    }
  }
  return 0;
}

/** A terminal: the prompt, line editing and history of readline, and Ctrl-C as described above. */
async function converse(
  model: string,
  history: History,
  ask: Ask,
  stdout: Output,
  stderr: Output,
  maxTokens: number,
): Promise<number> {
  const rl: Interface = createInterface({ input: process.stdin, output: process.stdout, prompt: '>>> ' });
  let answering: AbortController | null = null;
  /** A Ctrl-C at an empty prompt arms leaving; the next Ctrl-C there leaves, anything else disarms. */
  let armed = false;
  rl.on('SIGINT', () => {
    if (answering !== null) {
      answering.abort();
      return;
    }
    if (armed) {
      stdout.write('\n');
      rl.close();
      return;
    }
    armed = true;
    rl.write(null, { ctrl: true, name: 'e' });
    rl.write(null, { ctrl: true, name: 'u' });
    stdout.write('\n(Ctrl-C again, Ctrl-D or /bye to leave)\n');
    rl.prompt();
  });
  let closed = false;
  // Ctrl-D while an answer is written: stop it, then leave.
  rl.on('close', () => {
    closed = true;
    answering?.abort();
  });
  stdout.write(`llorch chat: ${model}. ${HELP}\n`);
  rl.prompt();
  for await (const line of rl) {
    armed = false;
    const question = line.trim();
    if (question === '/bye') break;
    if (question === '/clear') {
      history.clear();
      stdout.write('(the conversation is forgotten)\n');
    } else if (question === '/help' || question === '/?') {
      stdout.write(`${HELP}\n`);
    } else if (question !== '') {
      answering = new AbortController();
      const outcome = await ask(line, answering.signal);
      answering = null;
      switch (outcome.kind) {
        case 'done':
          history.answered(line, outcome.text);
          stdout.write(outcome.finishReason === 'length' ? `\n[cut at --max-tokens ${maxTokens}]\n` : '\n');
          break;
        case 'canceled':
          stdout.write('\n(canceled: this turn is not kept)\n');
          break;
        case 'failed':
          if (outcome.text !== '') stdout.write('\n');
          stderr.write(`llorch chat: ${outcome.message}\n`);
          break;
      }
    }
    if (closed) break;
    rl.prompt();
  }
  rl.close();
  return 0;
}
