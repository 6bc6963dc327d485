/** The hostile requests: from (seed, route, index), each one built when it is sent (see hostile.ts). */
import { Readable } from 'node:stream';
import fc from 'fast-check';
import {
  type Accepted,
  type Hostile,
  type Json,
  JSON_TYPE,
  LIMIT_BYTES,
  MARK,
  type Route,
  type ValueType,
} from './hostile-routes.ts';

const VALUES: Record<ValueType, fc.Arbitrary<unknown>> = {
  string: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('', 'NaN', '1e308', '-1', 'true', 'null')),
  int: fc.oneof(fc.integer(), fc.constantFrom(0, -1, 1e308, 2 ** 53)),
  fraction: fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Number.isInteger(x)),
    fc.constantFrom(0.5, -1.5, 1e-308),
  ),
  bool: fc.boolean(),
  array: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
  object: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  null: fc.constant(null),
};

/** A value of a JSON type the field does not accept. */
function wrongValue(accepted: Accepted): fc.Arbitrary<unknown> {
  const ok = new Set<ValueType>(accepted.flatMap((t) => (t === 'number' ? ['int', 'fraction'] : [t])));
  const wrong = (Object.keys(VALUES) as ValueType[]).filter((t) => !ok.has(t)).map((t) => VALUES[t]);
  return fc.oneof(...wrong);
}

/** `base` with `value` at `path` (`messages.0.role`), missing containers made on the way. */
function setAt(base: Json, path: string, value: unknown): Json {
  const root = structuredClone(base);
  const keys = path.split('.');
  let node: Json = root;
  for (const [i, key] of keys.slice(0, -1).entries()) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = /^\d+$/.test(keys[i + 1] ?? '') ? [] : {};
    node = node[key] as Json;
  }
  node[keys.at(-1) ?? path] = value;
  return root;
}

/** The JSON text of `base` with the raw text `raw` (need not be JSON) in place of the value at `path`. */
function spliced(route: Route, base: Json, path: string, raw: string): string {
  const fitted = route.forField?.(base, path) ?? base;
  return JSON.stringify(setAt(fitted, path, MARK)).replace(`"${MARK}"`, () => raw);
}

const json = (label: string, body: string, contentType: string | null = JSON_TYPE): Hostile => ({
  label,
  contentType,
  body,
});

function wrongType(route: Route, field: string): fc.Arbitrary<Hostile> {
  const accepted = route.fields[field] ?? [];
  return fc
    .tuple(route.base, wrongValue(accepted))
    .map(([base, value]) => json(`wrong type ${field}`, spliced(route, base, field, JSON.stringify(value))));
}

const HUGE = [
  ...'1e308 -1e308 -1 0 -0 9007199254740992 9007199254740993 -9007199254740992 1e-308 1.5 1e999 NaN'.split(' '),
  ...'Infinity -Infinity "NaN" "1e308" 0x10 01 +1 .5 1e9 2147483648 4294967297'.split(' '),
  '1' + '0'.repeat(400),
];
/** Valid but large token counts: each costs a full context of engine time, so only the pinned cases send them. */
const LARGE_VALID = new Set(['1e9', '2147483648', '4294967297']);

function hugeNumber(route: Route): fc.Arbitrary<Hostile> {
  const numeric = Object.keys(route.fields).filter((f) => route.fields[f]?.some((t) => t === 'int' || t === 'number'));
  const fields = numeric.length > 0 ? numeric : ['max_tokens', 'messages.0.content'];
  return fc
    .tuple(route.base, fc.constantFrom(...fields), fc.constantFrom(...HUGE))
    .filter(([, field, raw]) => field !== route.tokensField || !LARGE_VALID.has(raw))
    .map(([base, field, raw]) => json(`huge number ${field}=${raw}`, spliced(route, base, field, raw)));
}

function nested(depth: number, container: 'array' | 'object', closed: boolean): string {
  const [open, inner, close] = container === 'array' ? ['[', '', ']'] : ['{"a":', '1', '}'];
  return open.repeat(depth) + inner + (closed ? close.repeat(depth) : '');
}

function deep(route: Route): fc.Arbitrary<Hostile> {
  return fc
    .tuple(
      route.base,
      fc.constantFrom(route.textField, 'x_deep'),
      fc.constantFrom(62, 63, 64, 65, 100, 1000, 5000, 50_000),
      fc.constantFrom('array' as const, 'object' as const),
      fc.boolean(),
    )
    .map(([base, field, depth, container, closed]) =>
      json(
        `${depth} ${container}s deep in ${field}${closed ? '' : ', unclosed'}`,
        spliced(route, base, field, nested(depth, container, closed)),
      ),
    );
}

const LONE = ['\\ud800', '\\udfff', '\\udbff\\udbff', 'a\\udc00b', '\\ud83d\\ude00', '\\ud800\\u0041'];

function surrogate(route: Route): fc.Arbitrary<Hostile> {
  const modelField = route.path === '/v2/tasks' ? 'model_ref' : 'model';
  return fc.oneof(
    fc
      .tuple(route.base, fc.constantFrom(route.textField, modelField, 'x_text'), fc.constantFrom(...LONE))
      .map(([base, field, escape]) => json(`"${escape}" in ${field}`, spliced(route, base, field, `"${escape}"`))),
    fc
      .tuple(route.base, fc.constantFrom(...LONE))
      .map(([base, escape]) => json(`"${escape}" as a key`, JSON.stringify(base).replace('{', `{"${escape}":1,`))),
    fc
      .tuple(route.base, fc.string({ unit: 'binary', maxLength: 30 }))
      .map(([base, s]) => json('any code points', spliced(route, base, route.textField, JSON.stringify(s)))),
  );
}

const BAD_UTF8 = [
  [0xff],
  [0xfe, 0xfe],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0x80],
  [0xc3],
  [0xf4, 0x90, 0x80, 0x80],
];

function invalidUtf8(route: Route): fc.Arbitrary<Hostile> {
  return fc
    .tuple(route.base, fc.constantFrom(...BAD_UTF8), fc.constantFrom('in a string', 'between tokens', 'in a key'))
    .map(([base, bytes, where]) => {
      const raw = where === 'in a string' ? `"a${MARK}b"` : where === 'in a key' ? `{"${MARK}":1}` : `1${MARK}`;
      return withBytes(
        `bytes ${Buffer.from(bytes).toString('hex')} ${where}`,
        spliced(route, base, route.textField, raw),
        bytes,
      );
    });
}

/** `text` as UTF-8 with `bytes` in place of MARK. */
function withBytes(label: string, text: string, bytes: readonly number[]): Hostile {
  const [before = '', after = ''] = text.split(MARK);
  return {
    label,
    contentType: JSON_TYPE,
    body: Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)]),
  };
}

const NOT_JSON = [
  '{',
  '}',
  '{"model":',
  'null',
  'true',
  '1',
  '"demo"',
  '[]',
  '[{}]',
  "{'model':'demo'}",
  '{"model":"demo",}',
  '{"model":"demo"}{"model":"demo"}',
  '\ufeff{"model":"demo"}',
  '// c\n{}',
  'model=demo&prompt=hi',
  '<x/>',
  'NaN',
  '{"model":"demo" "prompt":"x"}',
  ' ',
  '\n',
  '\u0000',
  '{"model":"demo","model":1}',
];

const notJson: fc.Arbitrary<Hostile> = fc.oneof(
  fc.constantFrom(...NOT_JSON).map((body) => json('not JSON', body)),
  fc.string({ unit: 'binary', maxLength: 200 }).map((body) => json('any text', body)),
  fc.uint8Array({ minLength: 1, maxLength: 200 }).map((bytes) => ({
    label: 'any bytes',
    contentType: JSON_TYPE,
    body: Buffer.from(bytes),
  })),
);

const empty: fc.Arbitrary<Hostile> = fc
  .constantFrom(JSON_TYPE, null, 'text/plain')
  .map((type) => json(`empty body, ${type ?? 'no content-type'}`, '', type));

const CONTENT_TYPES = [
  null,
  '',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/jsonx',
  'json',
  'application/json-patch+json',
  'text/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json;charset=latin1',
];

function contentType(route: Route): fc.Arbitrary<Hostile> {
  return fc
    .tuple(route.base, fc.constantFrom(...CONTENT_TYPES))
    .map(([base, type]) => json(`content-type ${type ?? '(none)'}`, JSON.stringify(base), type));
}

function unknownFields(route: Route): fc.Arbitrary<Hostile> {
  const key = fc.oneof(
    fc.string({ maxLength: 12 }).map((s) => `x_${s}`),
    fc.constantFrom('__proto__', 'constructor', 'prototype', '', 'model ', 'MODEL'),
  );
  return fc
    .tuple(route.base, fc.array(fc.tuple(key, fc.jsonValue({ maxDepth: 3 })), { minLength: 1, maxLength: 5 }))
    .map(([base, extra]) => {
      const fields = extra.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)},`).join('');
      return json(`unknown fields ${extra.map(([k]) => k).join(',')}`, JSON.stringify(base).replace('{', `{${fields}`));
    });
}

const valid = (route: Route): fc.Arbitrary<Hostile> => route.base.map((base) => json('valid', JSON.stringify(base)));

function generated(route: Route): fc.Arbitrary<Hostile> {
  return fc.oneof(
    { weight: 1, arbitrary: valid(route) },
    { weight: 5, arbitrary: fc.constantFrom(...Object.keys(route.fields)).chain((f) => wrongType(route, f)) },
    { weight: 3, arbitrary: hugeNumber(route) },
    { weight: 1, arbitrary: deep(route) },
    { weight: 2, arbitrary: surrogate(route) },
    { weight: 2, arbitrary: invalidUtf8(route) },
    { weight: 2, arbitrary: notJson },
    { weight: 1, arbitrary: empty },
    { weight: 2, arbitrary: contentType(route) },
    { weight: 2, arbitrary: unknownFields(route) },
  );
}

/** `base` with a text of about `bytes` bytes (`unit` repeated) in the route's text field. */
function bigText(route: Route, base: Json, bytes: number, unit: string): string {
  const long = unit.repeat(Math.ceil(bytes / Buffer.byteLength(unit)));
  return spliced(route, base, route.textField, `"${MARK}"`).replace(MARK, () => long);
}

/** Cases every run holds, in this order, before the generated ones: the costly and the must-cover. */
function pinned(route: Route, seed: number): readonly (() => Hostile)[] {
  const base = (): Json => fc.sample(route.base, { numRuns: 1, seed })[0] ?? {};
  const over = (): string => bigText(route, base(), LIMIT_BYTES + 64 * 1024, 'hello ');
  const cases: (() => Hostile)[] = [
    () => ({ label: 'oversized, content-length', contentType: JSON_TYPE, body: over(), oversized: true }),
    () => ({
      label: 'oversized, chunked',
      contentType: JSON_TYPE,
      body: () => Readable.from(chunks(over())),
      oversized: true,
    }),
    () => json('1 MB prompt', bigText(route, base(), 1 << 20, 'hello ')),
    () => json('1 MB prompt, multibyte', bigText(route, base(), 1 << 20, 'é漢🙂')),
    () => json('5000 arrays deep', spliced(route, base(), route.textField, nested(5000, 'array', true))),
    () => json('5000 objects deep, unclosed', spliced(route, base(), 'x_deep', nested(5000, 'object', false))),
    () => json('empty body', ''),
    () => json('no content-type', JSON.stringify(base()), null),
    () => json('lone surrogate', spliced(route, base(), route.textField, '"\\ud800"')),
    () => withBytes('byte ff in the text', spliced(route, base(), route.textField, `"a${MARK}b"`), [0xff]),
  ];
  if (route.tokensField !== null) {
    const field = route.tokensField;
    for (const raw of ['1000000000', '2147483648'])
      cases.push(() => json(`${field}=${raw}`, spliced(route, base(), field, raw)));
  }
  for (const [i, field] of Object.keys(route.fields).entries())
    cases.push(() => fc.sample(wrongType(route, field), { numRuns: 1, seed: mix(seed, 1000 + i) })[0] ?? empty0());
  return cases;
}

const empty0 = (): Hostile => json('empty body', '');

function* chunks(body: string): Generator<Buffer> {
  for (let i = 0; i < body.length; i += 64 * 1024) yield Buffer.from(body.slice(i, i + 64 * 1024));
}

/** A 32-bit seed for one request, from the run's seed and the request's place. */
function mix(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    h = Math.imul(h ^ part, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h | 0;
}

export function requestAt(route: Route, routeIndex: number, seed: number, i: number): Hostile {
  const pins = pinned(route, mix(seed, routeIndex));
  const pin = pins[i];
  if (pin !== undefined) return pin();
  return fc.sample(generated(route), { numRuns: 1, seed: mix(seed, routeIndex, i) })[0] ?? empty0();
}
