#!/usr/bin/env node
// Plain Node runs the TypeScript source: it strips the types itself (erasable syntax only; see tsconfig.json).
// The compile cache first: it spares later starts the type stripper (see compile-cache.js).
import '@llama-orch/lifecycle/compile-cache';

await import('../src/main.ts');
