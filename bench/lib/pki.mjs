// Test PKI material for the load tests, written to a temp JSON file the server and generator
// processes read. Built with the *built* @clientcert/testing package.
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestPki, forwardedHeaders } from '@clientcert/testing'

export const CLIENT_CN = 'bench-client'
export const PROXY_IP = '127.0.0.2'

export async function writePkiMaterial() {
  const pki = await createTestPki()
  const client = await pki.issueClient({ subject: `CN=${CLIENT_CN}` })
  const material = {
    serverCert: pki.server.chainPem,
    serverKey: pki.server.keyPem,
    serverCaPem: pki.serverCa.pem,
    clientRootPem: pki.root.pem,
    clientIntermediatePem: pki.intermediate.pem,
    clientCert: client.chainPem,
    clientKey: client.keyPem,
    forwarded: forwardedHeaders('rfc9440', client),
  }
  const file = join(tmpdir(), `clientcert-bench-pki-${process.pid}.json`)
  writeFileSync(file, JSON.stringify(material))
  return file
}
