/**
 * The `mssql` driver, loaded on first use. It pulls in tedious and the Azure identity
 * libraries, which cost seconds of start-up that a process syncing only PostgreSQL and
 * MySQL should not pay (every CLI start imports the dialect index).
 */
import { createRequire } from 'node:module';
import type Mssql from 'mssql';

const require = createRequire(import.meta.url);
let driver: typeof Mssql | undefined;

export function mssql(): typeof Mssql {
  driver ??= require('mssql') as typeof Mssql;
  return driver;
}
