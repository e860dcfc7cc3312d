// The refresh suite (reconcile-suite.ts) with a PostgreSQL target.
import { defineRefreshSuite } from './reconcile-suite.js';

defineRefreshSuite('postgres');
