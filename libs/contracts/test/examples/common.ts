/** Errors, ids and references. */
import { SHA, pool, type ShapeExamples } from './shape-examples.ts';

const envelope = { code: 'ADMISSION_REJECT', message: 'queue full', retriable: true, retry_after_ms: 750 };

export const commonExamples: Record<string, ShapeExamples> = {
  ErrorCode: {
    valid: [{ name: 'a catalogue code', value: 'INVALID_PARAMS' }],
    invalid: [{ name: 'a code outside the catalogue', value: 'TEAPOT', field: '(root)' }],
  },
  ErrorEnvelope: {
    valid: [
      { name: 'a 429 envelope', value: envelope },
      { name: 'a minimal envelope', value: { code: 'NOT_FOUND', message: 'no such task' } },
    ],
    invalid: [
      { name: 'a missing message', value: { code: 'INTERNAL' }, field: 'message' },
      { name: 'an unknown code', value: { ...envelope, code: 'NOPE' }, field: 'code' },
      { name: 'a negative retry_after_ms', value: { ...envelope, retry_after_ms: -1 }, field: 'retry_after_ms' },
      { name: 'an unknown key', value: { ...envelope, extra: 1 }, field: 'extra' },
    ],
  },
  OpenAIErrorResponse: {
    valid: [
      {
        name: 'an invalid request error',
        value: { error: { message: 'bad', type: 'invalid_request_error', param: 'messages', code: 'invalid_params' } },
      },
    ],
    invalid: [
      { name: 'a flat error', value: { message: 'bad' }, field: 'error' },
      { name: 'a missing type', value: { error: { message: 'bad', param: null, code: null } }, field: 'error.type' },
    ],
  },
  ResourceId: {
    valid: [{ name: 'a pool id', value: 'gpu0-chat' }],
    invalid: [
      { name: 'upper case', value: 'Chat', field: '(root)' },
      { name: 'a path separator', value: 'a/b', field: '(root)' },
    ],
  },
  ClientId: {
    valid: [{ name: 'a uuid', value: '0b7e5b9e-6c1f-4b7a-9a53-2f3c3f1b8d11' }],
    invalid: [{ name: 'whitespace', value: 'my task', field: '(root)' }],
  },
  ModelRef: {
    valid: [
      { name: 'the demo model', value: 'demo' },
      { name: 'a file', value: 'file:/models/x.gguf' },
      { name: 'a Hugging Face file', value: pool.model },
      { name: 'an https URL', value: 'https://example.org/m.gguf' },
    ],
    invalid: [
      { name: 'an unknown scheme', value: 's3://bucket/key', field: '(root)', refined: true },
      { name: 'an hf ref without a gguf file', value: 'hf:Qwen/Qwen2.5', field: '(root)', refined: true },
    ],
  },
  Sha256: {
    valid: [{ name: 'a digest', value: SHA }],
    invalid: [{ name: 'upper-case hex', value: 'A'.repeat(64), field: '(root)' }],
  },
  EngineSource: {
    valid: [
      { name: 'the npm bundle', value: 'npm:node-llama-cpp@3.22.1' },
      { name: 'a git ref', value: 'git:https://github.com/ggml-org/llama.cpp#b6500' },
      { name: 'a source dir', value: 'path:/src/llama.cpp' },
      { name: 'a prebuilt binary', value: 'binary:/usr/local/bin/llama-server' },
    ],
    invalid: [
      { name: 'a version range', value: 'npm:node-llama-cpp@^3', field: '(root)', refined: true },
      {
        name: 'a git url without ref',
        value: 'git:https://github.com/ggml-org/llama.cpp',
        field: '(root)',
        refined: true,
      },
    ],
  },
};
