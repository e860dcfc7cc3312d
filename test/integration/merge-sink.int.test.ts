/**
 * The Sinks against the real PostgreSQL and MariaDB: install, prepareTable, the merge
 * rule on hand-written scenarios, offsets in the same transaction, local-edit triggers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTableSchema } from '../../lib/dialect/introspect.js';
import { DataError } from '../../lib/errors.js';
import { clockTable, tombTable } from '../../lib/merge/clock-layout.js';
import { SchemaEvolutionError } from '../../lib/sink/index.js';
import { stampOf } from '../../lib/stamp.js';
import type { TableSchema } from '../../lib/types.js';
import { uniqueName } from '../support/helpers.js';
import { T0, TARGETS, clientsTable, event, openTarget, readRows, type TargetHandle } from './merge-support.js';

const opts = { autoEvolve: true, createTable: true };

describe.each(TARGETS)('merge sink into $label', ({ name: target, schema }) => {
  let h: TargetHandle;
  beforeAll(async () => { h = await openTarget(target, schema); });
  afterAll(async () => { await h.close(); });

  async function prepared(extra: Partial<TableSchema> = {}): Promise<TableSchema> {
    const src = { ...clientsTable('billing', h.track(uniqueName('clients'))), ...extra };
    return h.sink.prepareTable(src, { schema, name: src.name }, opts);
  }

  it('creates the target, clock and tomb tables and stores offsets with the data', async () => {
    const t = await prepared();
    expect(t.columns.map((c) => c.name)).toEqual(['id', 'name', 'email', 'phone']);
    expect(t.key).toEqual(['id']);
    const clock = await readTableSchema(h.app, schema, clockTable(t).name);
    expect(clock?.columns.map((c) => c.name)).toEqual(['id', '_fs_ins', '_fs_del', 'name', 'email', 'phone']);
    expect(await readTableSchema(h.app, schema, tombTable(t).name)).toBeDefined();

    const consumer = uniqueName('consumer');
    expect(await h.sink.storedOffsets(consumer)).toEqual([]);
    const out = await h.sink.apply(consumer, [{ table: t, events: [event('insert', 'billing', T0, { id: 1n }, { name: 'Ann', email: 'a@x', phone: '1' })] }],
      [{ topic: 'tp', partition: 0, nextOffset: '5' }, { topic: 'tp', partition: 1, nextOffset: '9' }, { topic: 'tp', partition: 0, nextOffset: '7' }]);
    expect(out).toEqual({ fieldsTaken: 3, fieldsKept: 0, rowsDeleted: 0 });
    expect(await readRows(h.app, t)).toEqual([{ id: 1n, name: 'Ann', email: 'a@x', phone: '1' }]);
    expect(await h.sink.storedOffsets(consumer)).toEqual([{ topic: 'tp', partition: 0, nextOffset: '7' }, { topic: 'tp', partition: 1, nextOffset: '9' }]);
    // a second prepareTable of the same source is served from the cache and changes nothing
    expect(await h.sink.prepareTable(clientsTable('billing', t.name), { schema, name: t.name }, opts)).toEqual(t);
  });

  it('takes a field only from a newer write; an update competes only with the columns it changed', async () => {
    const t = await prepared();
    const c = uniqueName('c');
    await h.sink.apply(c, [{ table: t, events: [event('insert', 'billing', T0 + 10n, { id: 7n }, { name: 'Bo', email: 'old@x', phone: '100' })] }], []);
    // invoice edits email at T1 (newer), billing changes phone at T2 and replays an old email from T0
    const out = await h.sink.apply(c, [{
      table: t,
      events: [
        event('update', 'invoice', T0 + 20n, { id: 7n }, { email: 'invoice@x', name: 'IGNORED', phone: 'IGNORED' }, ['email']),
        event('update', 'billing', T0 + 30n, { id: 7n }, { phone: '200', email: 'stale@x' }, ['phone']),
        event('update', 'billing', T0 + 5n, { id: 7n }, { email: 'older@x' }, ['email']),
      ],
    }], []);
    expect(out.fieldsTaken).toBe(2);
    expect(out.fieldsKept).toBe(1);
    expect(await readRows(h.app, t)).toEqual([{ id: 7n, name: 'Bo', email: 'invoice@x', phone: '200' }]);
    // the same events again, in another batch: nothing changes (idempotent)
    const again = await h.sink.apply(c, [{ table: t, events: [event('update', 'billing', T0 + 30n, { id: 7n }, { phone: '200' }, ['phone'])] }], []);
    expect(again).toEqual({ fieldsTaken: 0, fieldsKept: 1, rowsDeleted: 0 });
    const [clock] = await readRows(h.app, clockTable(t));
    expect(clock).toMatchObject({ id: 7n, _fs_ins: stampOf(T0 + 10n, 'billing'), _fs_del: null, name: stampOf(T0 + 10n, 'billing'), email: stampOf(T0 + 20n, 'invoice'), phone: stampOf(T0 + 30n, 'billing') });
  });

  it('a delete at T3 is not undone by an update stamped T2; a newer insert re-creates the row and keeps newer fields', async () => {
    const t = await prepared();
    const c = uniqueName('c');
    await h.sink.apply(c, [{ table: t, events: [event('insert', 'billing', T0, { id: 1n }, { name: 'A', email: 'a@x', phone: '1' })] }], []);
    const del = await h.sink.apply(c, [{ table: t, events: [event('delete', 'billing', T0 + 300n, { id: 1n })] }], []);
    expect(del.rowsDeleted).toBe(1);
    await h.sink.apply(c, [{ table: t, events: [event('update', 'invoice', T0 + 200n, { id: 1n }, { email: 'late@x' }, ['email'])] }], []);
    expect(await readRows(h.app, t)).toEqual([]);
    expect(await readRows(h.app, tombTable(t))).toEqual([{ id: 1n, name: 'A', email: 'late@x', phone: '1' }]);
    // an update newer than the delete still does not create the row ...
    await h.sink.apply(c, [{ table: t, events: [event('update', 'invoice', T0 + 600n, { id: 1n }, { phone: '600' }, ['phone'])] }], []);
    expect(await readRows(h.app, t)).toEqual([]);
    // ... but a newer insert does, keeping the field the even newer update wrote
    await h.sink.apply(c, [{ table: t, events: [event('insert', 'billing', T0 + 400n, { id: 1n }, { name: 'B', email: 'b@x', phone: '4' })] }], []);
    expect(await readRows(h.app, t)).toEqual([{ id: 1n, name: 'B', email: 'b@x', phone: '600' }]);
    expect(await readRows(h.app, tombTable(t))).toEqual([]);
  });

  it('an update that arrives before its insert is kept and applied when the insert comes', async () => {
    const t = await prepared();
    const c = uniqueName('c');
    await h.sink.apply(c, [{ table: t, events: [event('update', 'invoice', T0 + 50n, { id: 3n }, { email: 'new@x' }, ['email'])] }], []);
    expect(await readRows(h.app, t)).toEqual([]);
    await h.sink.apply(c, [{ table: t, events: [event('insert', 'billing', T0 + 10n, { id: 3n }, { name: 'C', email: 'old@x', phone: '3' })] }], []);
    expect(await readRows(h.app, t)).toEqual([{ id: 3n, name: 'C', email: 'new@x', phone: '3' }]);
  });

  it('local edits in the target are stamped by its triggers and win over older incoming changes', async () => {
    const t = await prepared();
    const c = uniqueName('c');
    const d = h.app.dialect;
    await h.sink.apply(c, [{ table: t, events: [event('insert', 'billing', T0, { id: 1n }, { name: 'A', email: 'a@x', phone: '1' })] }], []);
    const before = Date.now();
    await h.app.execute(`UPDATE ${d.qualified(t)} SET ${d.quote('email')} = ${d.param(1)} WHERE ${d.quote('id')} = ${d.param(2)}`, ['local@x', 1]);
    const [clock] = await readRows(h.app, clockTable(t));
    const localStamp = clock!.email as bigint;
    expect(localStamp).toBeGreaterThan(stampOf(BigInt(before - 5_000) * 1000n, 'x'));
    expect(clock!.phone).toBe(stampOf(T0, 'billing')); // unchanged column keeps its stamp
    // an event stamped before the local edit does not overwrite it
    const nowMicros = BigInt(Date.now()) * 1000n;
    await h.sink.apply(c, [{ table: t, events: [event('update', 'billing', nowMicros - 60_000_000n, { id: 1n }, { email: 'older@x', phone: '2' }, ['email', 'phone'])] }], []);
    expect(await readRows(h.app, t)).toEqual([{ id: 1n, name: 'A', email: 'local@x', phone: '2' }]);
    // a newer one does
    await h.sink.apply(c, [{ table: t, events: [event('update', 'billing', nowMicros + 60_000_000n, { id: 1n }, { email: 'newer@x' }, ['email'])] }], []);
    expect(await readRows(h.app, t)).toEqual([{ id: 1n, name: 'A', email: 'newer@x', phone: '2' }]);
    // a local delete stamps _fs_del and keeps the values in the tomb; an older insert does not bring the row back
    await h.app.execute(`DELETE FROM ${d.qualified(t)} WHERE ${d.quote('id')} = ${d.param(1)}`, [1]);
    expect(await readRows(h.app, tombTable(t))).toEqual([{ id: 1n, name: 'A', email: 'newer@x', phone: '2' }]);
    await h.sink.apply(c, [{ table: t, events: [event('insert', 'billing', nowMicros - 1_000_000n, { id: 1n }, { name: 'Z', email: 'z@x', phone: '9' })] }], []);
    expect(await readRows(h.app, t)).toEqual([]);
    // (its fields still compete: name and phone were older than it, email was newer)
    expect(await readRows(h.app, tombTable(t))).toEqual([{ id: 1n, name: 'Z', email: 'newer@x', phone: '9' }]);
    // a local insert re-creates the row, stamping every field
    await h.app.execute(`INSERT INTO ${d.qualified(t)} (${d.quote('id')}, ${d.quote('name')}) VALUES (${d.param(1)}, ${d.param(2)})`, [1, 'local']);
    expect(await readRows(h.app, tombTable(t))).toEqual([]);
    const [c2] = await readRows(h.app, clockTable(t));
    expect((c2!._fs_ins as bigint) > (c2!._fs_del as bigint)).toBe(true);
  });

  it('a failure inside apply leaves both data and offsets unchanged', async () => {
    const t = await prepared();
    const narrow = await prepared({ columns: [{ name: 'id', type: { kind: 'int', bits: 64 }, nullable: false }, { name: 'n', type: { kind: 'int', bits: 16 }, nullable: true }] });
    const c = uniqueName('c');
    await h.sink.apply(c, [{ table: t, events: [event('insert', 'billing', T0, { id: 1n }, { name: 'A', email: 'a@x', phone: '1' })] }], [{ topic: 'x', partition: 0, nextOffset: '1' }]);
    const bad = h.sink.apply(c, [
      { table: t, events: [event('update', 'billing', T0 + 1n, { id: 1n }, { email: 'b@x' }, ['email'])] },
      { table: narrow, events: [event('insert', 'billing', T0, { id: 5n }, { n: 70_000 })] },
    ], [{ topic: 'x', partition: 0, nextOffset: '3' }]);
    await expect(bad).rejects.toBeInstanceOf(DataError);
    await expect(bad).rejects.toThrow(new RegExp(`${narrow.name}.*key \\{"id":"5"\\}`));
    expect(await readRows(h.app, t)).toEqual([{ id: 1n, name: 'A', email: 'a@x', phone: '1' }]);
    expect(await readRows(h.app, narrow)).toEqual([]);
    expect(await h.sink.storedOffsets(c)).toEqual([{ topic: 'x', partition: 0, nextOffset: '1' }]);
    // a value that is no value of its column is a DataError too, before anything is written
    const garbage = h.sink.apply(c, [{ table: t, events: [event('delete', 'billing', T0 + 2n, { id: 'abc' })] }], [{ topic: 'x', partition: 0, nextOffset: '4' }]);
    await expect(garbage).rejects.toBeInstanceOf(DataError);
    await expect(garbage).rejects.toThrow(new RegExp(`${t.name}.*"id"`));
    expect(await h.sink.storedOffsets(c)).toEqual([{ topic: 'x', partition: 0, nextOffset: '1' }]);
  });

  it('treats a primary-key clash with a row inserted concurrently as transient, not as bad data', async () => {
    const t = await prepared();
    const d = h.sink.db.dialect;
    // a row written behind the merge's back (an applier session: no trigger, no clock row),
    // as if another session inserted it between the clock read and the insert
    await h.sink.db.execute(`INSERT INTO ${d.qualified(t)} (${d.quote('id')}, ${d.quote('name')}) VALUES (${d.param(1)}, ${d.param(2)})`, [9, 'sneaky']);
    const clash = h.sink.apply(uniqueName('c'), [{ table: t, events: [event('insert', 'billing', T0, { id: 9n }, { name: 'N', email: 'e', phone: 'p' })] }], []);
    await expect(clash).rejects.toMatchObject({ retriable: true });
    await expect(clash).rejects.not.toBeInstanceOf(DataError);
    await expect(clash).rejects.toThrow(/inserted concurrently/);
  });

  it('adds a new nullable source column when autoEvolve is on, and names table and column when it is off', async () => {
    const t = await prepared();
    const c = uniqueName('c');
    await h.sink.apply(c, [{ table: t, events: [event('insert', 'billing', T0, { id: 1n }, { name: 'A', email: 'a@x', phone: '1' })] }], []);
    const evolved = clientsTable('billing', t.name);
    evolved.columns.push({ name: 'last login', type: { kind: 'timestamp', precision: 6, tz: false }, nullable: true });
    await expect(h.sink.prepareTable(evolved, { schema, name: t.name }, { autoEvolve: false, createTable: true }))
      .rejects.toThrow(SchemaEvolutionError);
    await expect(h.sink.prepareTable(evolved, { schema, name: t.name }, { autoEvolve: false, createTable: true }))
      .rejects.toThrow(new RegExp(`${t.name}.*"last login"`));
    const t2 = await h.sink.prepareTable(evolved, { schema, name: t.name }, opts);
    expect(t2.columns.map((x) => x.name)).toEqual(['id', 'name', 'email', 'phone', 'last login']);
    await h.sink.apply(c, [{ table: t2, events: [event('update', 'billing', T0 + 1n, { id: 1n }, { 'last login': '2025-06-01 10:00:00.123456' }, ['last login'])] }], []);
    expect(await readRows(h.app, t)).toEqual([{ id: 1n, name: 'A', email: 'a@x', phone: '1', 'last login': '2025-06-01 10:00:00.123456' }]);
    // the trigger was re-created and stamps the new column too
    const d = h.app.dialect;
    await h.app.execute(`UPDATE ${d.qualified(t)} SET ${d.quote('last login')} = NULL WHERE ${d.quote('id')} = ${d.param(1)}`, [1]);
    const [clock] = await readRows(h.app, clockTable(t));
    expect((clock!['last login'] as bigint) > stampOf(T0 + 1n, 'billing')).toBe(true);
  });

  it('keeps every type exact: decimals, timestamps, dates, Unicode, binary, JSON, booleans, 64-bit integers', async () => {
    const src: TableSchema = {
      schema: 'src', name: h.track(uniqueName('types')), key: ['k', 'code'],
      columns: [
        { name: 'k', type: { kind: 'int', bits: 64 }, nullable: false },
        { name: 'code', type: { kind: 'string', maxLength: 20 }, nullable: false },
        { name: 'amount', type: { kind: 'decimal', precision: 30, scale: 10 }, nullable: true },
        { name: 'at', type: { kind: 'timestamp', precision: 6, tz: true }, nullable: true },
        { name: 'day', type: { kind: 'date' }, nullable: true },
        { name: 'tod', type: { kind: 'time', precision: 6 }, nullable: true },
        { name: 'text "odd"', type: { kind: 'string' }, nullable: true },
        { name: 'blob', type: { kind: 'bytes' }, nullable: true },
        { name: 'doc', type: { kind: 'json' }, nullable: true },
        { name: 'flag', type: { kind: 'bool' }, nullable: true },
        { name: 'big', type: { kind: 'int', bits: 64 }, nullable: true },
        { name: 'ratio', type: { kind: 'float', bits: 64 }, nullable: true },
        { name: 'why?', type: { kind: 'string', maxLength: 10 }, nullable: true },
      ],
    };
    const t = await h.sink.prepareTable(src, { schema, name: src.name }, opts);
    const row = {
      amount: '-12345678901234567890.0123456789', at: '1999-12-31 23:59:59.999999', day: '0001-01-01', tod: '23:59:59.000001',
      'text "odd"': 'zoë 例え 🎉 \' " \\ ` ;', blob: Buffer.from([0, 1, 2, 255, 0x5c, 0x27]), doc: '{"a": [1, 2.5, "x"]}', flag: true,
      big: 9223372036854775807n, ratio: 0.1, 'why?': 'who?',
    };
    await h.sink.apply(uniqueName('c'), [{ table: t, events: [event('snapshot', 'billing', T0, { k: -9007199254740993n, code: 'ä/b' }, row)] }], []);
    const [got] = await readRows(h.app, t);
    expect({ ...got, doc: JSON.parse(String(got!.doc)) }).toEqual({ k: -9007199254740993n, code: 'ä/b', ...row, doc: { a: [1, 2.5, 'x'] } });
    // updates and deletes of a table with a `?` in a column name (mysql2 substitutes `?` even inside identifiers)
    const key = { k: -9007199254740993n, code: 'ä/b' };
    await h.sink.apply(uniqueName('c'), [{ table: t, events: [event('update', 'billing', T0 + 1n, key, { 'why?': 'me?' }, ['why?'])] }], []);
    expect((await readRows(h.app, t))[0]!['why?']).toBe('me?');
    await h.sink.apply(uniqueName('c'), [{ table: t, events: [event('delete', 'billing', T0 + 2n, key)] }], []);
    expect((await readRows(h.app, tombTable(t)))[0]!['why?']).toBe('me?');
  });

  it('counts rows of a pre-existing table as present with unknown field stamps', async () => {
    const name = h.track(uniqueName('pre'));
    const d = h.app.dialect;
    await h.app.execute(`CREATE TABLE ${d.qualified({ schema, name })} (id BIGINT PRIMARY KEY, email VARCHAR(100) NOT NULL, phone VARCHAR(40))`);
    await h.app.execute(`INSERT INTO ${d.qualified({ schema, name })} (id, email, phone) VALUES (1, 'a@x', '1'), (2, 'b@x', '2')`);
    const t = await h.sink.prepareTable({ ...clientsTable('billing', name), columns: clientsTable('billing', name).columns.filter((c) => c.name !== 'name') }, { schema, name }, opts);
    expect((await readRows(h.app, clockTable(t))).map((r) => [r.id, r._fs_ins])).toEqual([[1n, 0n], [2n, 0n]]);
    // a NOT NULL column the update does not carry is no obstacle
    await h.sink.apply(uniqueName('c'), [{ table: t, events: [event('update', 'billing', T0, { id: 1n }, { phone: '9' }, ['phone']), event('delete', 'billing', T0, { id: 2n })] }], []);
    expect(await readRows(h.app, t)).toEqual([{ id: 1n, email: 'a@x', phone: '9' }]);
  });

  it('keeps columns only the target has through deletes and re-inserts', async () => {
    const name = h.track(uniqueName('own'));
    const d = h.app.dialect;
    await h.app.execute(`CREATE TABLE ${d.qualified({ schema, name })} (id BIGINT PRIMARY KEY, email VARCHAR(100), notes VARCHAR(100) DEFAULT 'none')`);
    const src = { ...clientsTable('billing', name), columns: clientsTable('billing', name).columns.filter((c) => c.name === 'id' || c.name === 'email') };
    const t = await h.sink.prepareTable(src, { schema, name }, opts);
    expect(t.columns.map((c) => c.name)).toEqual(['id', 'email']);
    const c = uniqueName('c');
    await h.sink.apply(c, [{ table: t, events: [event('insert', 'billing', T0, { id: 1n }, { email: 'a@x' })] }], []);
    expect(await readRows(h.app, t)).toEqual([{ id: 1n, email: 'a@x', notes: 'none' }]);
    await h.app.execute(`UPDATE ${d.qualified(t)} SET notes = 'vip' WHERE id = 1`);
    await h.sink.apply(c, [{ table: t, events: [event('delete', 'billing', T0 + 10n, { id: 1n })] }], []);
    expect(await readRows(h.app, tombTable(t))).toEqual([{ id: 1n, email: 'a@x', notes: 'vip' }]);
    await h.sink.apply(c, [{ table: t, events: [event('insert', 'billing', T0 + 20n, { id: 1n }, { email: 'b@x' })] }], []);
    expect(await readRows(h.app, t)).toEqual([{ id: 1n, email: 'b@x', notes: 'vip' }]);
  });

  it('merges a table that has only key columns', async () => {
    const name = h.track(uniqueName('keys'));
    const src: TableSchema = { schema: 'src', name, key: ['a', 'b'], columns: [
      { name: 'a', type: { kind: 'int', bits: 32 }, nullable: false }, { name: 'b', type: { kind: 'string', maxLength: 10 }, nullable: false }] };
    const t = await h.sink.prepareTable(src, { schema, name }, opts);
    const c = uniqueName('c');
    const k = { a: 1, b: 'x' };
    await h.sink.apply(c, [{ table: t, events: [event('insert', 'o', T0, k), event('insert', 'o', T0, { a: 2, b: 'y' })] }], []);
    await h.sink.apply(c, [{ table: t, events: [event('delete', 'o', T0 + 5n, k), event('update', 'o', T0 + 6n, k, {}, ['b'])] }], []);
    expect(await readRows(h.app, t)).toEqual([{ a: 2, b: 'y' }]);
    expect(await readRows(h.app, tombTable(t))).toEqual([{ a: 1, b: 'x' }]);
    await h.sink.apply(c, [{ table: t, events: [event('insert', 'o', T0 + 3n, k)] }], []);
    expect(await readRows(h.app, t)).toEqual([{ a: 2, b: 'y' }]);
    await h.sink.apply(c, [{ table: t, events: [event('snapshot', 'o', T0 + 9n, k)] }], []);
    expect(await readRows(h.app, t)).toEqual([{ a: 1, b: 'x' }, { a: 2, b: 'y' }]);
    expect(await readRows(h.app, tombTable(t))).toEqual([]);
    // the key-only table's trigger handles a local key change as delete + insert
    const d = h.app.dialect;
    await h.app.execute(`UPDATE ${d.qualified(t)} SET b = 'z' WHERE a = 1`);
    const clocks = await readRows(h.app, clockTable(t));
    expect(clocks.map((r) => [r.a, r.b, (r._fs_ins as bigint) > ((r._fs_del as bigint | null) ?? -1n)])).toEqual([[1, 'x', false], [1, 'z', true], [2, 'y', true]]);
  });
});
