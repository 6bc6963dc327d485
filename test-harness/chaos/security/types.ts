/** The security section's result, as results.json holds it and RESULTS.md renders it. */

export interface RouteTally {
  /** `POST /v2/tasks`, as probed. */
  readonly route: string;
  readonly sent: number;
  /** Answers 401 or 403. */
  readonly refused: number;
  /** Each request answered otherwise: `<variant> → <status>` (must be none). */
  readonly notRefused: readonly string[];
  /** The answer with valid credentials (the client key; a cluster client certificate for the callback): not 401. */
  readonly withCredentials: string;
}

export interface OpenRoute {
  readonly route: string;
  /** The answer without any credentials. */
  readonly status: string;
}

export interface TimingGroup {
  readonly name: string;
  readonly length: number;
  readonly samples: number;
  readonly medianUs: number;
  readonly q1Us: number;
  readonly q3Us: number;
}

export interface TimingComparison {
  readonly group: string;
  readonly against: string;
  readonly pairs: number;
  /** median(group) − median(against), and median(group) / median(against). */
  readonly medianDiffUs: number;
  readonly medianRatio: number;
  /** That difference over the reference group's interquartile range. */
  readonly diffOverIqr: number;
  /** The median of the per-round differences and its distribution-free 99.99% confidence interval. */
  readonly pairedMedianUs: number;
  readonly ciLowUs: number;
  readonly ciHighUs: number;
  /** Share of rounds in which the group's request took longer. */
  readonly slowerShare: number;
  /** The sign test's z over the rounds. */
  readonly z: number;
  /** The interval holds 0 (the sign test finds no difference at p < 10⁻⁴). */
  readonly withinNoise: boolean;
}

export interface SecurityResult {
  readonly quick: boolean;
  readonly routes: {
    /** The ways of asking without valid credentials each route was sent. */
    readonly variants: readonly string[];
    readonly tallies: readonly RouteTally[];
    readonly notRefused: number;
    /** Routes that answer without credentials by design (SEC-4007). */
    readonly open: readonly OpenRoute[];
    /** Routes declared in bin/orchestratord/src/http/routes/*.ts that no probe reached (must be none). */
    readonly unprobed: readonly string[];
  };
  readonly timing: {
    readonly route: string;
    readonly rounds: number;
    readonly warmupRounds: number;
    /** TLS connections the timing client opened (1 when keep-alive held throughout). */
    readonly connections: number;
    /** Answers to the wrong keys other than 401, or failed requests (must be 0). */
    readonly unexpected: number;
    readonly groups: readonly TimingGroup[];
    readonly comparisons: readonly TimingComparison[];
    /** What api-keys.ts's comparison does, read from its source. */
    readonly construction: { readonly constantTime: boolean; readonly checks: readonly string[] };
    readonly wallMs: number;
  };
  readonly logs: {
    /** Streamed tasks and chats run with valid credentials before the scan, and how many ended whole. */
    readonly streamed: number;
    readonly streamedWhole: number;
    readonly scannedBytes: Record<string, number>;
    readonly patterns: readonly { readonly pattern: string; readonly hits: number; readonly where: string }[];
  };
  readonly mtls: {
    readonly probes: readonly {
      readonly client: string;
      readonly outcome: HandshakeOutcome;
      readonly detail: string;
    }[];
    /** Probes that got an HTTP answer (must be 0). */
    readonly accepted: number;
    /** The control: orchestratord's client certificate gets an HTTP answer (else the refusals prove nothing). */
    readonly control: { readonly outcome: HandshakeOutcome; readonly detail: string };
  };
  readonly wallMs: number;
}

export type HandshakeOutcome = 'refused' | 'answered' | 'silent';
