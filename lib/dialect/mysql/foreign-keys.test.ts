import { describe, expect, it } from 'vitest';
import type { ForeignKeyDef } from './foreign-keys.js';
import { addForeignKeysSql, dropForeignKeysSql } from './foreign-keys.js';

const fk = (over: Partial<ForeignKeyDef> = {}): ForeignKeyDef => ({
  name: 'inv_cli`fk', columns: ['client id', 'region'], parent: { schema: 'app', name: 'clients' }, self: false,
  parentColumns: ['id', 're`gion'], onUpdate: 'RESTRICT', onDelete: 'CASCADE', ...over,
});

describe('MySQL foreign keys carried through the swap', () => {
  it('adds every FK in one ALTER, names and identifiers quoted, the default RESTRICT left implicit', () => {
    expect(addForeignKeysSql([fk(), fk({ name: 'b', columns: ['x'], parentColumns: ['id'], onUpdate: 'SET NULL', onDelete: 'NO ACTION' })], { schema: '', name: 'inv__fs_stg' }))
      .toBe('ALTER TABLE `inv__fs_stg` ADD CONSTRAINT `inv_cli``fk` FOREIGN KEY (`client id`, `region`) REFERENCES `app`.`clients` (`id`, `re``gion`) ON DELETE CASCADE, '
        + 'ADD CONSTRAINT `b` FOREIGN KEY (`x`) REFERENCES `app`.`clients` (`id`) ON DELETE NO ACTION ON UPDATE SET NULL');
  });

  it('points a self-reference at the table that carries it', () => {
    const self = fk({ name: 'parent_fk', columns: ['parent_id'], parentColumns: ['id'], parent: { schema: 'app', name: 'inv' }, self: true });
    expect(addForeignKeysSql([self], { schema: 'app', name: 'inv__fs_b3' })).toBe(
      'ALTER TABLE `app`.`inv__fs_b3` ADD CONSTRAINT `parent_fk` FOREIGN KEY (`parent_id`) REFERENCES `app`.`inv__fs_b3` (`id`) ON DELETE CASCADE');
  });

  it('drops every FK in one ALTER', () => {
    expect(dropForeignKeysSql(['a', 'b`c'], { schema: 'app', name: 'inv' })).toBe('ALTER TABLE `app`.`inv` DROP FOREIGN KEY `a`, DROP FOREIGN KEY `b``c`');
  });

  it('refuses referential actions outside the allow-list and mismatched column lists', () => {
    expect(() => addForeignKeysSql([fk({ onDelete: 'CASCADE; DROP TABLE x' })], { schema: '', name: 't' })).toThrow(/unexpected referential action/);
    expect(() => addForeignKeysSql([fk({ parentColumns: ['id'] })], { schema: '', name: 't' })).toThrow(/has 2 columns but references 1/);
  });
});
