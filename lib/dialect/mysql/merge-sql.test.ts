import { describe, expect, it } from 'vitest';
import type { ColumnSpec } from '../../types.js';
import { createStageSql, insertRowsSql, keyInSql, moveFromStageSql, readClocksSql, updateFromStageSql, upsertClocksSql, upsertOffsetsSql, upsertWinnersSql } from './merge-sql.js';
import type { MysqlMergeTable } from './merge-sql.js';
import { stampTriggerBodies, stampTriggerSqls } from './stamp-triggers.js';

const id: ColumnSpec = { name: 'i d', type: { kind: 'int', bits: 64 }, nullable: false };
const odd: ColumnSpec = { name: 'e"m`ail', type: { kind: 'string', maxLength: 20 }, nullable: true };
const x: ColumnSpec = { name: 'x', type: { kind: 'int', bits: 32 }, nullable: true };
const m: MysqlMergeTable = { target: { schema: 'db', name: 'odd`t' }, key: [id], fields: [odd], allFields: [odd, x] };
const from = { schema: 'db', name: 'a' };
const to = { schema: 'db', name: 'b' };

describe('MySQL merge SQL', () => {
  it('quotes odd identifiers by doubling the backtick', () => {
    expect(insertRowsSql(m, m.target, 2)).toBe('INSERT INTO `db`.`odd``t` (`i d`, `e"m``ail`) VALUES (?, ?), (?, ?)');
  });

  it('matches composite keys with row constructors', () => {
    const two = { ...m, key: [id, { ...x, name: 'k2' }] };
    expect(keyInSql(two, 'c', 2)).toBe('(c.`i d`, c.`k2`) IN ((?, ?), (?, ?))');
    expect(keyInSql(m, 'c', 3)).toBe('c.`i d` IN (?, ?, ?)');
  });

  it('reads clocks with the tomb flag, locking them', () => {
    expect(readClocksSql(m, 1)).toBe(
      'SELECT c.`i d`, c.`_fs_ins`, c.`_fs_del`, c.`e"m``ail`, (tb.`i d` IS NOT NULL) AS _fs_has_tomb\n'
      + '  FROM `db`.`odd``t__fs_clock` c LEFT JOIN `db`.`odd``t__fs_tomb` tb ON tb.`i d` = c.`i d`\n'
      + ' WHERE c.`i d` IN (?) FOR UPDATE');
  });

  it('upserts clocks with VALUES() for MariaDB and with a row alias for MySQL 8.0.19+, NULL-safe GREATEST', () => {
    expect(upsertClocksSql(m, 1, false)).toBe(
      'INSERT INTO `db`.`odd``t__fs_clock` (`i d`, `_fs_ins`, `_fs_del`, `e"m``ail`) VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE '
      + '`_fs_ins` = GREATEST(COALESCE(`_fs_ins`, VALUES(`_fs_ins`)), COALESCE(VALUES(`_fs_ins`), `_fs_ins`)), '
      + '`_fs_del` = GREATEST(COALESCE(`_fs_del`, VALUES(`_fs_del`)), COALESCE(VALUES(`_fs_del`), `_fs_del`)), '
      + '`e"m``ail` = GREATEST(COALESCE(`e"m``ail`, VALUES(`e"m``ail`)), COALESCE(VALUES(`e"m``ail`), `e"m``ail`))');
    expect(upsertClocksSql(m, 1, true)).toBe(
      'INSERT INTO `db`.`odd``t__fs_clock` (`i d`, `_fs_ins`, `_fs_del`, `e"m``ail`) VALUES (?, ?, ?, ?) AS _fs_new ON DUPLICATE KEY UPDATE '
      + '`_fs_ins` = GREATEST(COALESCE(`_fs_ins`, _fs_new.`_fs_ins`), COALESCE(_fs_new.`_fs_ins`, `_fs_ins`)), '
      + '`_fs_del` = GREATEST(COALESCE(`_fs_del`, _fs_new.`_fs_del`), COALESCE(_fs_new.`_fs_del`, `_fs_del`)), '
      + '`e"m``ail` = GREATEST(COALESCE(`e"m``ail`, _fs_new.`e"m``ail`), COALESCE(_fs_new.`e"m``ail`, `e"m``ail`))');
    // no assignment reads a column assigned before it (ON DUPLICATE KEY UPDATE runs left to right)
    for (const sql of [upsertClocksSql(m, 1, false), upsertClocksSql(m, 1, true)]) {
      const sets = sql.split("ON DUPLICATE KEY UPDATE ")[1]!.split(/(?<=\)\)), (?=`)/);
      expect(sets).toHaveLength(3);
      sets.forEach((s) => {
        const [lhs, rhs] = s.split(' = ');
        expect(rhs!.replaceAll(lhs!, '')).not.toMatch(/`_fs_|`e"m/);
      });
    }
    expect(upsertClocksSql(m, 1, true, ['_fs_del'])).toBe('INSERT INTO `db`.`odd``t__fs_clock` (`i d`, `_fs_del`) VALUES (?, ?) AS _fs_new ON DUPLICATE KEY UPDATE `_fs_del` = GREATEST(COALESCE(`_fs_del`, _fs_new.`_fs_del`), COALESCE(_fs_new.`_fs_del`, `_fs_del`))');
    expect(upsertOffsetsSql('`fieldsync_offsets`', 1, false)).toContain('ON DUPLICATE KEY UPDATE next_offset = VALUES(next_offset)');
    expect(upsertOffsetsSql('`fieldsync_offsets`', 1, true)).toContain('VALUES (?, ?, ?, ?) AS _fs_new ON DUPLICATE KEY UPDATE next_offset = _fs_new.next_offset');
  });

  it('moves rows merging the winners, in both upsert forms', () => {
    const select = 'SELECT f.`i d` AS `i d`, IF(s._fs_w0, s._fs_v0, f.`e"m``ail`) AS `e"m``ail`, f.`x` AS `x` FROM `db`.`a` f JOIN _fs_stage s ON f.`i d` = s._fs_k0 WHERE s._fs_op = ?';
    expect(moveFromStageSql(m, from, to, false)).toBe(
      `INSERT INTO \`db\`.\`b\` (\`i d\`, \`e"m\`\`ail\`, \`x\`) ${select} ON DUPLICATE KEY UPDATE \`db\`.\`b\`.\`e"m\`\`ail\` = VALUES(\`e"m\`\`ail\`), \`db\`.\`b\`.\`x\` = VALUES(\`x\`)`);
    expect(moveFromStageSql(m, from, to, true)).toBe(
      `INSERT INTO \`db\`.\`b\` (\`i d\`, \`e"m\`\`ail\`, \`x\`) SELECT * FROM (${select}) AS _fs_new ON DUPLICATE KEY UPDATE \`db\`.\`b\`.\`e"m\`\`ail\` = _fs_new.\`e"m\`\`ail\`, \`db\`.\`b\`.\`x\` = _fs_new.\`x\``);
  });

  it('upserts only the winning columns of a win set, in both forms', () => {
    expect(upsertWinnersSql(m, m.target, 2, false)).toBe('INSERT INTO `db`.`odd``t` (`i d`, `e"m``ail`) VALUES (?, ?), (?, ?) ON DUPLICATE KEY UPDATE `e"m``ail` = VALUES(`e"m``ail`)');
    expect(upsertWinnersSql(m, m.target, 1, true)).toBe('INSERT INTO `db`.`odd``t` (`i d`, `e"m``ail`) VALUES (?, ?) AS _fs_new ON DUPLICATE KEY UPDATE `e"m``ail` = _fs_new.`e"m``ail`');
  });

  it('writes only winning fields through the stage', () => {
    expect(updateFromStageSql(m, m.target)).toBe('UPDATE `db`.`odd``t` t JOIN _fs_stage s ON t.`i d` = s._fs_k0 SET t.`e"m``ail` = IF(s._fs_w0, s._fs_v0, t.`e"m``ail`) WHERE s._fs_op = ?');
    expect(createStageSql(m)[1]).toBe('CREATE TEMPORARY TABLE _fs_stage (_fs_op TINYINT NOT NULL, _fs_k0 BIGINT NOT NULL, _fs_v0 VARCHAR(20) NULL, _fs_w0 TINYINT NOT NULL, PRIMARY KEY (_fs_k0)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4');
  });
});

describe('MySQL stamping triggers', () => {
  const t = { schema: '', name: 'clients', key: ['id'], columns: [{ ...id, name: 'id' }, { ...odd, name: 'email' }, x] };
  it('skip applier sessions, stamp only changed columns NULL-safely, move deleted rows to the tomb', () => {
    const b = stampTriggerBodies(t, 'invoice');
    for (const body of Object.values(b)) expect(body).toContain('IF NOT (coalesce(@fieldsync_applier, 0) = 1) THEN');
    expect(b.update).toContain('`email` = IF(NEW.`email` <=> OLD.`email`, `email`, GREATEST(_fs_now_stamp, COALESCE((`email` DIV 1024 + 1) * 1024 + ');
    expect(b.insert).toContain('DELETE FROM `clients__fs_tomb` WHERE `id` = NEW.`id`');
    expect(b.delete).toContain('INSERT INTO `clients__fs_tomb` (`id`, `email`, `x`) VALUES (OLD.`id`, OLD.`email`, OLD.`x`)');
  });
  it('replace atomically on MariaDB and drop + create on MySQL', () => {
    expect(stampTriggerSqls(t, 'o', true)[0]).toMatch(/^CREATE OR REPLACE TRIGGER `clients__fs_sti` AFTER INSERT ON `clients` FOR EACH ROW BEGIN/);
    const mysql = stampTriggerSqls(t, 'o', false);
    expect(mysql[0]).toBe('DROP TRIGGER IF EXISTS `clients__fs_sti`');
    expect(mysql[1]).toMatch(/^CREATE TRIGGER `clients__fs_sti` AFTER INSERT/);
    // the copy a reconciler swap left under the other name goes once the base one exists
    expect(mysql[2]).toBe('DROP TRIGGER IF EXISTS `clients__fs_sti__fs_g`');
    expect(stampTriggerSqls(t, 'o', true)[1]).toBe('DROP TRIGGER IF EXISTS `clients__fs_sti__fs_g`');
  });
});
