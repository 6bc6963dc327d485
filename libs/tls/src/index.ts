export {
  createCa,
  issueCertificate,
  loadCa,
  type CertificateAuthority,
  type IssueOptions,
  type PemPair,
} from './certs.ts';
export { mtlsAgent, serverTlsOptions, type TlsFiles } from './server-options.ts';
