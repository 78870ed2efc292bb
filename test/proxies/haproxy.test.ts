import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { haproxyConfig } from './configs.js'
import { PROXY_SOURCE } from './harness.js'
import { proxySuite } from './suite.js'

// client --mTLS--> HAProxy 127.0.0.1 --HTTP from 127.0.0.2 (`source`)--> Express + clientCert()
proxySuite({
  name: 'haproxy',
  format: 'haproxy',
  debPackage: 'haproxy',
  versionArgs: ['-v'],
  proxyAddress: PROXY_SOURCE,
  laxExpired: 'app',
  optionalNoCertCode: 'ERR_CLIENT_CERT_MISSING',
  launch(m, ports, appPort) {
    const cfg = join(m.dir, 'haproxy.cfg')
    writeFileSync(cfg, haproxyConfig(m, ports, appPort))
    return { args: ['-f', cfg, '-db'] }
  },
})
