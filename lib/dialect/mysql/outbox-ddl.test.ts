import { describe, expect, it } from 'vitest';
import type { TableSchema } from '../../types.js';
import { mysqlInstallOutboxSql, mysqlInstallTriggerSql, mysqlJsonValueExpr, mysqlTriggerBody, mysqlTriggerName, mysqlUninstallTriggerSql } from './outbox-ddl.js';

const table: TableSchema = {
  schema: '', name: 'clients', key: ['id'],
  columns: [
    { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false },
    { name: 'email', type: { kind: 'string', maxLength: 200 }, nullable: true },
    { name: 'balance', type: { kind: 'decimal', precision: 12, scale: 2 }, nullable: true },
    { name: 'photo', type: { kind: 'bytes' }, nullable: true },
    { name: 'seen', type: { kind: 'timestamp', precision: 6, tz: true }, nullable: true },
    { name: 'at', type: { kind: 'timestamp', precision: 6, tz: false }, nullable: true },
    { name: 'vip', type: { kind: 'bool' }, nullable: true },
    { name: 'we`ird', type: { kind: 'json' }, nullable: true },
  ],
};

describe('MySQL outbox DDL', () => {
  it('creates the outbox and checkpoint tables in the connection database, re-run safe', () => {
    const [outbox, checkpoint] = mysqlInstallOutboxSql('app');
    expect(outbox).toMatch(/^CREATE TABLE IF NOT EXISTS `app`\.`fieldsync_outbox` \(\s+seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY/);
    expect(checkpoint).toMatch(/^CREATE TABLE IF NOT EXISTS `app`\.`fieldsync_capture_checkpoint`/);
  });

  it('reads values exactly inside JSON_OBJECT', () => {
    const c = (n: string) => table.columns.find((x) => x.name === n)!;
    expect(mysqlJsonValueExpr('NEW.`balance`', c('balance'))).toBe('CAST(NEW.`balance` AS CHAR)');
    expect(mysqlJsonValueExpr('NEW.`photo`', c('photo'))).toBe('HEX(NEW.`photo`)');
    expect(mysqlJsonValueExpr('NEW.`seen`', c('seen'))).toBe('CAST(UNIX_TIMESTAMP(NEW.`seen`) AS CHAR)');
    expect(mysqlJsonValueExpr('NEW.`at`', c('at'))).toBe('CAST(NEW.`at` AS CHAR)');
    expect(mysqlJsonValueExpr('NEW.`vip`', c('vip'))).toBe('(NEW.`vip` + 0)');
    expect(mysqlJsonValueExpr('NEW.`email`', c('email'))).toBe('NEW.`email`');
  });

  it('update trigger: NULL-safe per-column tests, binary string comparison, records nothing when nothing changed, skips applier sessions', () => {
    const body = mysqlTriggerBody('UPDATE', table, 'app', 'app', "o'rigin\\");
    expect(body).toContain("DECLARE ch LONGTEXT DEFAULT '[]';");
    expect(body).toContain('IF NOT (coalesce(@fieldsync_applier, 0) = 1) THEN');
    expect(body).toContain("IF NOT (BINARY OLD.`email` <=> BINARY NEW.`email`) THEN SET ch = JSON_ARRAY_APPEND(ch, '$', 'email'); END IF;");
    expect(body).toContain("IF NOT (OLD.`balance` <=> NEW.`balance`) THEN SET ch = JSON_ARRAY_APPEND(ch, '$', 'balance'); END IF;");
    expect(body).toContain("IF NOT (BINARY OLD.`we``ird` <=> BINARY NEW.`we``ird`) THEN SET ch = JSON_ARRAY_APPEND(ch, '$', 'we`ird'); END IF;");
    expect(body).toContain("IF ch <> '[]' THEN");
    // the old image only when the key changed (the capture's delete of the old key needs it)
    expect(body).toContain('IF NOT (OLD.`id` <=> NEW.`id`) THEN');
    expect(body).toMatch(/'U', JSON_OBJECT\('id', NEW\.`id`\), ch, JSON_OBJECT\('id', OLD\.`id`[^;]*;\s*ELSE\s*INSERT[^;]*'U', JSON_OBJECT\('id', NEW\.`id`\), ch, NULL, JSON_OBJECT\('id', NEW\.`id`/);
    expect(body).toContain("'o''rigin\\\\'");
    expect(body).toContain('CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)');
    expect(body).toContain("JSON_OBJECT('id', NEW.`id`)");
  });

  it('insert and delete triggers record the new / old row', () => {
    expect(mysqlTriggerBody('INSERT', table, 'app', 'app', 'o')).toMatch(/'I', JSON_OBJECT\('id', NEW\.`id`\), NULL, NULL, JSON_OBJECT\('id', NEW\.`id`, 'email', NEW\.`email`/);
    expect(mysqlTriggerBody('DELETE', table, 'app', 'app', 'o')).toMatch(/'D', JSON_OBJECT\('id', OLD\.`id`\), NULL, JSON_OBJECT\('id', OLD\.`id`, .*\), NULL,/s);
  });

  it('MariaDB replaces triggers atomically; MySQL 8 swaps them under LOCK TABLES; the copy a swap named otherwise goes after the base one exists', () => {
    const maria = mysqlInstallTriggerSql(table, 'app', 'app', 'o', true);
    expect(maria).toHaveLength(6);
    for (const [i, e] of ['i', 'u', 'd'].entries()) {
      expect(maria[2 * i]).toMatch(new RegExp(`^CREATE OR REPLACE TRIGGER \`app\`\\.\`fieldsync_outbox_${e}_clients\` AFTER (INSERT|UPDATE|DELETE) ON \`app\`\\.\`clients\` FOR EACH ROW`));
      expect(maria[2 * i + 1]).toBe(`DROP TRIGGER IF EXISTS \`app\`.\`fieldsync_outboxg_${e}_clients\``);
    }
    const mysql = mysqlInstallTriggerSql(table, 'app', 'app', 'o', false);
    expect(mysql[0]).toBe('LOCK TABLES `app`.`clients` WRITE, `app`.`fieldsync_outbox` WRITE');
    expect(mysql[mysql.length - 1]).toBe('UNLOCK TABLES');
    expect(mysql.filter((s) => s.startsWith('DROP TRIGGER IF EXISTS'))).toHaveLength(6);
    expect(mysqlUninstallTriggerSql(table, 'app')).toEqual(['i', 'u', 'd'].flatMap((e) => [
      `DROP TRIGGER IF EXISTS \`app\`.\`fieldsync_outbox_${e}_clients\``, `DROP TRIGGER IF EXISTS \`app\`.\`fieldsync_outboxg_${e}_clients\``]));
  });

  it('keeps trigger names within 64 characters and distinct per table', () => {
    const long = 'x'.repeat(70);
    const a = mysqlTriggerName(long, 'INSERT');
    const b = mysqlTriggerName(`${long}y`, 'INSERT');
    expect(a.length).toBeLessThanOrEqual(64);
    expect(a).not.toBe(b);
  });
});
