import type { AdapterLogger } from '@clientcert/core/adapter'
import { Logger } from '@nestjs/common'

const logger = new Logger('ClientCert')

/**
 * The module's default logger: Nest's `Logger` with the context `ClientCert`, so the
 * application's logger (`app.useLogger()`, `bufferLogs`) and its levels apply. Rejections go at
 * `log`, Nest's info level: `debug` is the level production configurations turn off
 * (`logger: ['log', 'warn', 'error']` is the usual one), and a rejection nobody sees is the
 * very failure this logging exists to prevent; one line per rejected request stays quiet.
 */
export const nestLogger: AdapterLogger = {
  info: (m) => logger.log(m),
  warn: (m) => logger.warn(m),
  error: (m) => logger.error(m),
}
