// biome-ignore-all lint/correctness/noUnusedImports: a prelude declares what the docs code blocks use
import type { ClientCertOptions } from '@clientcert/core'
import { ClientCertStrategy } from '@clientcert/passport'

declare const options: ClientCertOptions
