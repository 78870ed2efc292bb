// A protocol-level SPIFFE Workload API server for tests: it speaks the published protocol
// (FetchX509Bundles / FetchX509SVID streams, the workload.spiffe.io security header) on a Unix
// socket and lets a test change what it serves. It is NOT SPIRE: no attestation, no
// registration entries, no signing; the test hands it certificates made with @clientcert/testing.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type Metadata,
  Server,
  ServerCredentials,
  type ServerWritableStream,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js'
import { SECURITY_HEADER, workloadService } from '../src/proto.js'

export interface ServedSvid {
  readonly spiffeId: string
  /** Leaf first, then intermediates: concatenated DER on the wire. */
  readonly chainDer: readonly Uint8Array[]
  readonly keyDer: Uint8Array
  readonly bundleDer: readonly Uint8Array[]
}

export interface TestWorkloadApi {
  /** `unix:///…/agent.sock` */
  readonly address: string
  /** Calls made, and whether each carried the security header. */
  readonly calls: Array<{ method: string; header: boolean }>
  /** Replaces the bundles (trust domain ID → DER certificates, or raw bytes) and pushes them to open streams. */
  setBundles(bundles: Record<string, readonly Uint8Array[] | Buffer>): void
  setSvid(svid: ServedSvid): void
  /** Ends every open stream with `code` (default UNAVAILABLE), as an agent restart does. */
  dropStreams(code?: status): void
  /** Refuses new calls with `code` until `refuse(undefined)`. */
  refuse(code: status | undefined): void
  close(): Promise<void>
}

const concat = (parts: readonly Uint8Array[]): Buffer => Buffer.concat(parts.map((p) => Buffer.from(p)))

export async function startWorkloadApi(): Promise<TestWorkloadApi> {
  const dir = mkdtempSync(join(tmpdir(), 'clientcert-workload-'))
  const address = `unix://${join(dir, 'agent.sock')}`
  let bundles: Record<string, Buffer> | undefined
  let svid: ServedSvid | undefined
  let refusing: status | undefined
  const calls: TestWorkloadApi['calls'] = []
  const bundleStreams = new Set<ServerWritableStream<unknown, unknown>>()
  const svidStreams = new Set<ServerWritableStream<unknown, unknown>>()

  const bundlesMessage = () => ({ crl: [], bundles })
  const svidMessage = () => ({
    svids: [
      {
        spiffe_id: svid!.spiffeId,
        x509_svid: concat(svid!.chainDer),
        x509_svid_key: Buffer.from(svid!.keyDer),
        bundle: concat(svid!.bundleDer),
        hint: '',
      },
    ],
    crl: [],
    federated_bundles: {},
  })

  const stream =
    (method: string, set: Set<ServerWritableStream<unknown, unknown>>, first: () => object | undefined) =>
    (call: ServerWritableStream<unknown, unknown>) => {
      const header = hasHeader(call.metadata)
      calls.push({ method, header })
      // SPIRE answers a call without the header with InvalidArgument.
      if (!header) return fail(call, status.INVALID_ARGUMENT, 'security header missing from request')
      if (refusing !== undefined) return fail(call, refusing, 'refused by test')
      set.add(call)
      call.on('cancelled', () => set.delete(call))
      const msg = first()
      if (msg !== undefined) call.write(msg)
    }

  const server = new Server()
  server.addService(workloadService().service, {
    FetchX509Bundles: stream('FetchX509Bundles', bundleStreams, () =>
      bundles ? bundlesMessage() : undefined,
    ),
    FetchX509SVID: stream('FetchX509SVID', svidStreams, () => (svid ? svidMessage() : undefined)),
  } as UntypedServiceImplementation)
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(address, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  )

  const end = (set: Set<ServerWritableStream<unknown, unknown>>, code: status) => {
    for (const call of set) fail(call, code, 'dropped by test')
    set.clear()
  }

  return {
    address,
    calls,
    setBundles(next) {
      bundles = Object.fromEntries(
        Object.entries(next).map(([k, v]) => [
          k,
          Buffer.isBuffer(v) ? v : concat(v as readonly Uint8Array[]),
        ]),
      )
      for (const call of bundleStreams) call.write(bundlesMessage())
    },
    setSvid(next) {
      svid = next
      for (const call of svidStreams) call.write(svidMessage())
    },
    dropStreams(code = status.UNAVAILABLE) {
      end(bundleStreams, code)
      end(svidStreams, code)
    },
    refuse(code) {
      refusing = code
    },
    async close() {
      end(bundleStreams, status.UNAVAILABLE)
      end(svidStreams, status.UNAVAILABLE)
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()))
      server.forceShutdown()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** grpc-js ends a server stream with a status through an 'error' event carrying code + details. */
function fail(call: ServerWritableStream<unknown, unknown>, code: status, details: string): void {
  call.emit('error', { code, details })
}

function hasHeader(md: Metadata): boolean {
  const v = md.get(SECURITY_HEADER)
  return v.length === 1 && v[0] === 'true'
}
