import { FORWARDED_FORMATS } from '@clientcert/core'
import { createRootCA, type ForwardedHeaderFormat, forwardedHeaders } from '@clientcert/testing'
import type { CheckResult } from './probe.js'

/** The trailing-metadata key where `@clientcert/grpc` puts the stable code of a rejection. */
const CODE_KEY = 'clientcert-error-code'

type Answer =
  | { readonly kind: 'status'; readonly status: string; readonly code: string | undefined }
  | { readonly kind: 'refused'; readonly detail: string }
  | { readonly kind: 'error'; readonly detail: string }
  | { readonly kind: 'untrusted'; readonly detail: string }

export interface GrpcProbeOptions {
  /** https://host:port/package.Service/Method */
  readonly url: URL
  readonly ca: string | undefined
  readonly client: { cert: string; key: string } | undefined
  /** The request message as bytes; default empty (a valid protobuf of every message type). */
  readonly body: string | undefined
  readonly timeoutMs: number
}

/**
 * `probe --grpc`: a unary call to one method without a certificate, with a throwaway one,
 * with forwarded-certificate headers sent as metadata, and (with --cert) with the given one.
 * The server's certificate is always verified (`--ca`, or the system roots).
 */
export async function probeGrpc(
  o: GrpcProbeOptions,
  untrusted: (m: string) => Error,
): Promise<CheckResult[]> {
  const grpc = await import('@grpc/grpc-js')
  const method = o.url.pathname
  if (!/^\/[^/]+\/[^/]+$/.test(method))
    throw new Error(
      `--grpc needs the full method in the URL path ('/package.Service/Method'), got '${method}'`,
    )
  const message = Buffer.from(o.body ?? '')
  const call = async (
    client: { cert: string; key: string } | undefined,
    headers: Record<string, string> = {},
  ) => {
    const answer = await send(client, headers)
    if (answer.kind === 'untrusted')
      throw untrusted(
        `the server's certificate is not trusted (${answer.detail}): pass --ca <file> with the CA that issued it (server verification is never disabled)`,
      )
    return answer
  }
  const send = (client: { cert: string; key: string } | undefined, headers: Record<string, string>) =>
    new Promise<Answer>((resolve) => {
      const credentials = grpc.credentials.createSsl(
        o.ca === undefined ? null : Buffer.from(o.ca),
        client ? Buffer.from(client.key) : null,
        client ? Buffer.from(client.cert) : null,
      )
      const channel = new grpc.Client(o.url.host, credentials)
      const metadata = new grpc.Metadata()
      for (const [k, v] of Object.entries(headers)) metadata.set(k.toLowerCase(), v)
      const bytes = (b: Buffer) => b
      channel.makeUnaryRequest(
        method,
        bytes,
        bytes,
        message,
        metadata,
        { deadline: Date.now() + o.timeoutMs },
        (err) => {
          channel.close()
          if (err === null) return resolve({ kind: 'status', status: 'OK', code: undefined })
          const code = err.metadata?.get(CODE_KEY)[0]
          const answer = classify(grpc.status[err.code] ?? String(err.code), err.details ?? '')
          resolve(
            answer.kind === 'status'
              ? { ...answer, code: typeof code === 'string' ? code : undefined }
              : answer,
          )
        },
      )
    })

  const classify = (status: string, details: string): Answer => {
    if (status !== 'UNAVAILABLE') return { kind: 'status', status, code: undefined }
    // grpc-js folds every connection failure into UNAVAILABLE; only its details tell them apart.
    if (
      /unable to verify|self[- ]signed|certificate has expired|not yet valid|does not match|altnames/i.test(
        details,
      )
    )
      return {
        kind: 'untrusted',
        detail: details.replace(/^No connection established\. Last error: /, '').slice(0, 120),
      }
    if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|EAI_AGAIN/.test(details))
      return { kind: 'error', detail: details.slice(0, 200) }
    // An alert (certificate required, unknown CA...) or a connection the server dropped.
    return { kind: 'refused', detail: details.slice(0, 200) }
  }

  const shown = (a: Extract<Answer, { kind: 'status' }>) =>
    `answered ${a.status}${a.code ? ` ${a.code}` : ''}`
  const result = (
    name: string,
    a: Exclude<Answer, { kind: 'untrusted' }>,
    expectOk: boolean,
    what: string,
  ): CheckResult => {
    if (a.kind === 'error') return { name, status: 'ERROR', detail: a.detail }
    if (a.kind === 'refused')
      return expectOk
        ? { name, status: 'FAIL', detail: `connection refused during TLS: ${what} was not accepted` }
        : { name, status: 'PASS', detail: 'connection refused during TLS' }
    const withCode = (r: CheckResult): CheckResult => (a.code === undefined ? r : { ...r, code: a.code })
    // Interceptors never see an unknown method, so its answer says nothing about authentication.
    if (a.status === 'UNIMPLEMENTED')
      return {
        name,
        status: 'ERROR',
        detail: `the server does not implement ${method}: probe a method it serves`,
      }
    if (!expectOk)
      return withCode(
        a.status === 'OK'
          ? { name, status: 'FAIL', detail: `${shown(a)}: ${what}` }
          : { name, status: 'PASS', detail: shown(a) },
      )
    if (a.status === 'OK') return withCode({ name, status: 'PASS', detail: shown(a) })
    if (a.code !== undefined || a.status === 'UNAUTHENTICATED' || a.status === 'PERMISSION_DENIED')
      return withCode({ name, status: 'FAIL', detail: `${shown(a)}: ${what} was not accepted` })
    return {
      name,
      status: 'PASS',
      detail: `${shown(a)}: not a clientcert rejection, so ${what} got past authentication; the method wants another message (--body)`,
    }
  }

  const rogueRoot = await createRootCA({ subject: 'CN=clientcert probe unknown CA' })
  const rogue = await rogueRoot.issueClient({ subject: 'CN=clientcert-probe' })
  const throwaway = { cert: rogue.chainPem, key: rogue.keyPem }
  const results: CheckResult[] = []
  const denied = 'accepted without a valid client certificate'
  results.push(result('no-certificate', await call(undefined), false, denied))
  results.push(result('unknown-ca', await call(throwaway), false, denied))
  for (const format of FORWARDED_FORMATS)
    results.push(
      result(
        `metadata:${format}`,
        await call(undefined, forwardedHeaders(format as ForwardedHeaderFormat, rogue)),
        false,
        'a forwarded-certificate header sent as call metadata was believed',
      ),
    )
  if (o.client)
    results.push(result('client-certificate', await call(o.client), true, 'the given certificate'))
  return results
}
