import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { nginxConfig } from './configs.js'
import { PROXY_SOURCE } from './harness.js'
import { proxySuite } from './suite.js'

// client --mTLS--> nginx 127.0.0.1 --HTTP from 127.0.0.2 (proxy_bind)--> Express + clientCert()
proxySuite({
  name: 'nginx',
  format: 'nginx',
  debPackage: 'nginx',
  versionArgs: ['-v'],
  proxyAddress: PROXY_SOURCE,
  // nginx answers a failed or missing client certificate with its own 400 page (internally 495/496).
  laxExpired: 'proxy',
  optionalNoCertCode: 'ERR_CLIENT_CERT_MISSING',
  rejectionPage: /The SSL certificate error|No required SSL certificate was sent/,
  launch(m, ports, appPort) {
    const conf = join(m.dir, 'nginx.conf')
    writeFileSync(conf, nginxConfig(m, ports, appPort))
    return { args: ['-p', m.dir, '-c', conf, '-e', 'stderr'] }
  },
})
