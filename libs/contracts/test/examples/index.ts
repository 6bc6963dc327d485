import { commonExamples } from './common.ts';
import { embeddingsExamples } from './embeddings.ts';
import { filesExamples } from './files.ts';
import { openaiExamples } from './openai.ts';
import { overviewExamples } from './overview.ts';
import { poolsExamples } from './pools.ts';
import { sessionsExamples } from './sessions.ts';
import type { ShapeExamples } from './shape-examples.ts';
import { tasksExamples } from './tasks.ts';
import { usageExamples } from './usage.ts';

export type { BadExample, Example, ShapeExamples } from './shape-examples.ts';

/** Valid and invalid examples of every registered wire shape, by shape id. */
export const examples: Record<string, ShapeExamples> = {
  ...commonExamples,
  ...tasksExamples,
  ...sessionsExamples,
  ...openaiExamples,
  ...embeddingsExamples,
  ...poolsExamples,
  ...filesExamples,
  ...overviewExamples,
  ...usageExamples,
};
