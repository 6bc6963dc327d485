export {
  createCa,
  issueCertificate,
  loadCa,
  type CertificateAuthority,
  type IssueOptions,
  type PemPair,
} from './certs.ts';
export {
  checkMaterial,
  readPem,
  type MaterialCheck,
  type PemMaterial,
  type TlsFiles,
  type TlsMaterial,
} from './material.ts';
export {
  TlsMaterialRefused,
  TlsMaterialWatcher,
  type RotationOutcome,
  type TlsLog,
  type TlsMaterialSource,
  type TlsMaterialWatcherOptions,
} from './material-watcher.ts';
export { hostProblem } from './host-names.ts';
export { namedConnector, type ServerNameOf } from './server-names.ts';
export {
  clientAgent,
  clientAgents,
  mtlsAgent,
  RotatingAgent,
  type ClientAgentOptions,
  type ClientAgents,
} from './agents.ts';
