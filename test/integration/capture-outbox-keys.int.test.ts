/**
 * The outbox triggers record each change's key as a JSON object in key_values (for
 * operators reading the outbox; capture itself takes keys from the row images): the new
 * key for inserts and updates, the old key for deletes, for one-column and composite keys;
 * and the old image of an update where the capture needs it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installOutbox, uninstallOutbox } from '../../lib/capture/install.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { openDb } from '../../lib/dialect/index.js';
import { captureConfig, captureSource, type CaptureTestSource, type SourceKind } from '../support/capture-harness.js';
import { uniqueName } from '../support/helpers.js';

for (const kind of ['pg', 'mysql'] as SourceKind[]) {
  describe(`outbox key_values (${kind === 'pg' ? 'PostgreSQL' : 'MariaDB'})`, () => {
    let source: CaptureTestSource;
    let cfg: FieldsyncConfig;
    let db: Db;
    const [one, two] = [uniqueName('ok1'), uniqueName('ok2')];

    beforeAll(async () => {
      source = await captureSource(kind);
      cfg = captureConfig(source, [{ name: one, snapshot: false }, { name: two, snapshot: false }]);
      db = openDb(cfg.databases.src!);
      await db.execute(`CREATE TABLE ${one} (id bigint PRIMARY KEY, note varchar(20))`);
      await db.execute(`CREATE TABLE ${two} (a int, b varchar(20), note varchar(20), PRIMARY KEY (a, b))`);
      await installOutbox(cfg, cfg.capture[0]!, db);
    });

    afterAll(async () => {
      if (db) {
        await uninstallOutbox(cfg, cfg.capture[0]!, db, true).catch(() => undefined);
        for (const t of [one, two]) await db.execute(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
        if (kind === 'pg') await db.execute(`DROP SCHEMA IF EXISTS "${source.isolation}" CASCADE`).catch(() => undefined);
        await db.close();
      }
      await source?.drop();
    });

    it('holds the new key for inserts and updates and the old key for deletes', async () => {
      await db.execute(`INSERT INTO ${one} (id, note) VALUES (9007199254740993, 'x')`);
      await db.execute(`UPDATE ${one} SET note = 'y' WHERE id = 9007199254740993`);
      await db.execute(`DELETE FROM ${one} WHERE id = 9007199254740993`);
      await db.execute(`INSERT INTO ${two} (a, b, note) VALUES (1, 'k"1', 'x')`);
      await db.execute(`UPDATE ${two} SET b = 'k2' WHERE a = 1`);
      await db.execute(`DELETE FROM ${two} WHERE a = 1`);
      const outbox = kind === 'pg' ? `"${source.isolation}".outbox` : 'fieldsync_outbox';
      const rows = await db.query(`SELECT table_name, op, key_values, old_row FROM ${outbox} ORDER BY seq`);
      // compared as text of the JSON: a bigint key must keep all its digits
      const keys = rows.map((r) => `${String(r.table_name) === one ? 'one' : 'two'} ${String(r.op)} ${String(r.key_values).replace(/\s/g, '')}`);
      // the old image of an update: PostgreSQL always (the capture compares the images);
      // MySQL only when the key changed (the capture needs it only for the old key's delete)
      expect(rows.map((r) => r.old_row !== null)).toEqual(kind === 'pg' ? [false, true, true, false, true, true] : [false, false, true, false, true, true]);
      expect(keys).toEqual([
        'one I {"id":9007199254740993}',
        'one U {"id":9007199254740993}',
        'one D {"id":9007199254740993}',
        'two I {"a":1,"b":"k\\"1"}',
        'two U {"a":1,"b":"k2"}',
        'two D {"a":1,"b":"k2"}',
      ]);
    });
  });
}
