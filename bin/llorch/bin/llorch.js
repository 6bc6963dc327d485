#!/usr/bin/env node
// Plain Node runs the TypeScript source: it strips the types itself (erasable syntax only; see tsconfig.json).
await import('../src/main.ts');
