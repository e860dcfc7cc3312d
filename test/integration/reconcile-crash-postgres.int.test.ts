// kill -9, lock and verification tests of the reconciler (reconcile-crash-suite.ts) with a PostgreSQL target.
import { defineCrashSuite } from './reconcile-crash-suite.js';

defineCrashSuite('postgres');
