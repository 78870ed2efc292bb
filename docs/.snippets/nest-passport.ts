// biome-ignore-all lint/correctness/noUnusedImports: a prelude declares what the docs code blocks use
import type { ClientPrincipal } from '@clientcert/core'
import { ClientCertStrategy } from '@clientcert/passport'
import { PassportStrategy } from '@nestjs/passport'

declare class UsersService {
  findByWorkload(id: string): Promise<{ id: string } | null>
}
