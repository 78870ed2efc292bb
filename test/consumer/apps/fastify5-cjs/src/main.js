// Fastify + @clientcert/fastify as a plain CommonJS app (require), type-checked with checkJs.
const { readFileSync } = require('node:fs')
const { clientCert } = require('@clientcert/fastify')
const Fastify = require('fastify')

const certs = /** @type {string} */ (process.env.CERTS)

async function main() {
  const app = Fastify({
    https: {
      cert: readFileSync(`${certs}/server.pem`),
      key: readFileSync(`${certs}/server-key.pem`),
      ca: readFileSync(`${certs}/root.pem`),
      requestCert: true,
      rejectUnauthorized: false,
    },
  })
  await app.register(clientCert, { identity: 'cn', allow: { ids: ['alice'] } })
  app.get('/whoami', async (request) => {
    /** @type {string | undefined} request.clientCert comes from the plugin's type augmentation */
    const id = request.clientCert?.id
    return { id }
  })
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  console.log(`LISTENING ${new URL(address).port}`)
}
main().catch((err) => {
  console.error(err)
  process.exit(1)
})
