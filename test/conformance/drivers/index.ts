import type { Driver } from '../driver.js'
import { expressDriver } from './express.js'

/** Every adapter the conformance matrix runs against. */
export const drivers: readonly Driver[] = [expressDriver]
