/**
 * Valid and invalid examples of every registered wire shape. An invalid example names the field its error
 * message must mention; `refined: true` marks a rule that JSON Schema cannot express (a cross-field check),
 * which only the runtime schema catches.
 */
export interface Example {
  readonly name: string;
  readonly value: unknown;
}
export interface BadExample extends Example {
  readonly field: string;
  readonly refined?: true;
}
export interface ShapeExamples {
  readonly valid: readonly Example[];
  readonly invalid: readonly BadExample[];
}

export const SHA = 'a'.repeat(64);
export const NOW = '2026-11-22T10:00:00.000Z';

export const pool = {
  id: 'chat',
  model: 'hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf',
  ctx: 8192,
  slots: 4,
};
