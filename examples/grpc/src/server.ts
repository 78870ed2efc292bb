import { fileURLToPath } from 'node:url'
import { loadOrCreateDevTls } from '@clientcert/testing'
import { createGreeterServer } from './service.js'

const tls = await loadOrCreateDevTls(process.env, fileURLToPath(new URL('../.certs', import.meta.url)))
const host = process.env.HOST ?? '127.0.0.1'
const { server, credentials } = createGreeterServer({
  clientCa: tls.clientCa,
  cert: tls.cert,
  key: tls.key,
  adminIds: (process.env.ADMIN_IDS ?? 'admin').split(',').filter((id) => id !== ''),
})
server.bindAsync(`${host}:${process.env.PORT ?? '50051'}`, credentials, (err, port) => {
  if (err) throw err
  console.log(`grpc example on ${host}:${port} (methods /example.Greeter/WhoAmI, /example.Greeter/Admin)`)
  if (tls.devDir)
    console.log(
      `development PKI in ${tls.devDir}: call with alice.pem / alice-key.pem, trusting server-ca.pem (server name localhost)`,
    )
})
