/** Smoke run of the Debezium pipeline alone: `tsx bench/debezium/smoke.ts [rows]`. */
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { openPostgres } from '../../lib/dialect/postgres/db.js';
import { startPrivatePostgres } from '../../test/support/private-db.js';
import { stack, uniqueName, waitFor } from '../../test/support/helpers.js';
import { createBenchTable, multiRowUpsert } from '../support/table.js';
import { startDebezium } from './connect.js';

const rows = Number(process.argv[2] ?? '20000');
const pgi = await startPrivatePostgres({ databases: ['bench'], settings: { wal_level: 'logical', max_wal_senders: '4', max_replication_slots: '4' } });
const src = openPostgres(pgi.url('bench'));
const my = openMysql(stack.mysqlUrl());
const name = uniqueName('dbz');
try {
  await createBenchTable(src, 'src');
  const dbz = await startDebezium({
    name, bootstrap: stack.kafkaBrokers.join(','), pgPort: pgi.port, pgDb: 'bench', pgTable: 'public.src', topicPrefix: name, partitions: 3,
    jdbcUrl: `jdbc:mariadb://127.0.0.1:${stack.mysqlPort}/fieldsync_test`, targetTable: name, batchSize: 2000,
  });
  const t0 = Date.now();
  for (let i = 0; i < rows; i += 1000) {
    const { sql, params } = multiRowUpsert('postgres', 'src', i, Math.min(rows, i + 1000));
    await src.execute(sql, params);
  }
  const t1 = Date.now();
  await waitFor('debezium target', async () => {
    const r = await my.query(`SELECT COUNT(*) AS n FROM \`${name}\``).catch(() => [{ n: 0 }]);
    return Number(r[0]!.n) >= rows;
  }, 300_000, 200);
  const t2 = Date.now();
  console.log(JSON.stringify({ rows, writeMs: t1 - t0, endToEndMs: t2 - t0, rowsPerSec: Math.round(rows / ((t2 - t0) / 1000)) }));
  console.log((await my.query(`SHOW CREATE TABLE \`${name}\``))[0]);
  await dbz.stop();
  await my.execute(`DROP TABLE IF EXISTS \`${name}\``);
} finally {
  await src.close(); await my.close(); await pgi.destroy();
}
