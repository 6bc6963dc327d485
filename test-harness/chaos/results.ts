/** What one run of the chaos suite found, as written to results.json. */
import type { machine } from '../bench/results.ts';
import type { FaultsResult } from './faults.ts';
import type { HostileResult } from './hostile.ts';
import type { NetFaultsResult } from './net-faults.ts';
import type { OverloadResult } from './overload.ts';
import type { SecurityResult } from './security/index.ts';

export interface ChaosResults {
  readonly machine: ReturnType<typeof machine>;
  readonly command: string;
  readonly quick: boolean;
  readonly date: string;
  readonly faults: FaultsResult | null;
  readonly netFaults: NetFaultsResult | null;
  /** Why the distributed fault run did not happen here (no network namespaces), or null. */
  readonly netFaultsSkipped: string | null;
  readonly overload: OverloadResult | null;
  readonly hostile: HostileResult | null;
  readonly security: SecurityResult | null;
  readonly notes: readonly string[];
}
