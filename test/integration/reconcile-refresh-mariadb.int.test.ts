// The refresh suite (reconcile-suite.ts) with a MariaDB target.
import { defineRefreshSuite } from './reconcile-suite.js';

defineRefreshSuite('mysql');
