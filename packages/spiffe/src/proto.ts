import {
  credentials,
  loadPackageDefinition,
  type Metadata,
  type ServiceClientConstructor,
} from '@grpc/grpc-js'
import { fromJSON } from '@grpc/proto-loader'

/**
 * The X.509 half of the SPIFFE Workload API (`SpiffeWorkloadAPI`, no proto package), written
 * from the published workload.proto of the SPIFFE standards:
 *
 *     service SpiffeWorkloadAPI {
 *       rpc FetchX509SVID(X509SVIDRequest) returns (stream X509SVIDResponse);
 *       rpc FetchX509Bundles(X509BundlesRequest) returns (stream X509BundlesResponse);
 *     }
 *     message X509SVIDRequest {}
 *     message X509SVIDResponse {
 *       repeated X509SVID svids = 1; repeated bytes crl = 2; map<string, bytes> federated_bundles = 3;
 *     }
 *     message X509SVID {
 *       string spiffe_id = 1; bytes x509_svid = 2; bytes x509_svid_key = 3; bytes bundle = 4; string hint = 5;
 *     }
 *     message X509BundlesRequest {}
 *     message X509BundlesResponse { repeated bytes crl = 1; map<string, bytes> bundles = 2; }
 *
 * Held as a descriptor object rather than a .proto file read at run time, so the package
 * works the same from ESM, CommonJS and a bundle. The JWT methods are not needed here.
 */
const WORKLOAD_API = {
  nested: {
    X509SVIDRequest: { fields: {} },
    X509SVIDResponse: {
      fields: {
        svids: { rule: 'repeated', type: 'X509SVID', id: 1 },
        crl: { rule: 'repeated', type: 'bytes', id: 2 },
        federated_bundles: { keyType: 'string', type: 'bytes', id: 3 },
      },
    },
    X509SVID: {
      fields: {
        spiffe_id: { type: 'string', id: 1 },
        x509_svid: { type: 'bytes', id: 2 },
        x509_svid_key: { type: 'bytes', id: 3 },
        bundle: { type: 'bytes', id: 4 },
        hint: { type: 'string', id: 5 },
      },
    },
    X509BundlesRequest: { fields: {} },
    X509BundlesResponse: {
      fields: {
        crl: { rule: 'repeated', type: 'bytes', id: 1 },
        bundles: { keyType: 'string', type: 'bytes', id: 2 },
      },
    },
    SpiffeWorkloadAPI: {
      methods: {
        FetchX509SVID: {
          requestType: 'X509SVIDRequest',
          responseType: 'X509SVIDResponse',
          responseStream: true,
        },
        FetchX509Bundles: {
          requestType: 'X509BundlesRequest',
          responseType: 'X509BundlesResponse',
          responseStream: true,
        },
      },
    },
  },
}

export interface X509SvidMessage {
  readonly spiffe_id: string
  readonly x509_svid: Buffer
  readonly x509_svid_key: Buffer
  readonly bundle: Buffer
  readonly hint: string
}

export interface X509SvidResponse {
  readonly svids: readonly X509SvidMessage[]
  readonly crl: readonly Buffer[]
  readonly federated_bundles: Readonly<Record<string, Buffer>>
}

export interface X509BundlesResponse {
  readonly crl: readonly Buffer[]
  readonly bundles: Readonly<Record<string, Buffer>>
}

/** `defaults: true`: an absent map or bytes field reads as empty, never as undefined. */
// protobufjs types demand a `comment` on every method; the JSON form does not need one.
export const packageDefinition = fromJSON(WORKLOAD_API as unknown as Parameters<typeof fromJSON>[0], {
  keepCase: true,
  defaults: true,
  longs: String,
})

/** The generated service (client and server side share it). */
export function workloadService(): ServiceClientConstructor {
  return loadPackageDefinition(packageDefinition).SpiffeWorkloadAPI as ServiceClientConstructor
}

export const insecureChannel = credentials.createInsecure

/** Workload API servers refuse calls without it (SPIFFE Workload Endpoint §3: a guard against SSRF). */
export const SECURITY_HEADER = 'workload.spiffe.io'

export type { Metadata }
