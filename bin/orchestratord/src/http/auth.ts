// The API-key primitives, where they were before the auth/ folder (kept for the imports that name this path).
export { fingerprint, matchesKey, presentedKey } from './auth/index.ts';
