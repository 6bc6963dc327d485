import { z } from 'zod';
import { named } from './registry.ts';

/** Pool and node ids end up in file names and metric labels: lower-case, short, no path characters. */
export const ResourceIdSchema = named(
  z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 characters of a-z, 0-9 and "-", starting with a letter or digit'),
  'ResourceId',
  'Id of a pool, replica or node.',
);

/** Client-chosen ids (task, session) are opaque but bounded and printable. */
export const ClientIdSchema = named(
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be 1-128 characters of A-Z, a-z, 0-9 and "._:-"'),
  'ClientId',
  'Id of a task or session, chosen by the client or generated.',
);
