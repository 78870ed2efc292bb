// biome-ignore-all lint/correctness/noUnusedImports: a prelude declares what the docs code blocks use
import type { IssuedCertificate, RunningServer, TestPki } from '@clientcert/testing'

declare const pki: TestPki
declare const alice: IssuedCertificate
declare const server: RunningServer
