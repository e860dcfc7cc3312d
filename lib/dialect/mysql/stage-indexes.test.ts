import { describe, expect, it } from 'vitest';
import { addIndexesSql, dropIndexesSql, parseDeferrableIndexes } from './stage-indexes.js';

const ddl = `CREATE TABLE \`t\` (
  \`id\` bigint(20) NOT NULL,
  \`email\` varchar(200) DEFAULT NULL COMMENT 'KEY \`not\` (x)',
  \`phone\` varchar(40) DEFAULT NULL,
  \`name\` varchar(100) DEFAULT NULL,
  PRIMARY KEY (\`id\`),
  UNIQUE KEY \`phone\`\`u\` (\`phone\`) COMMENT 'one phone, one client',
  KEY \`by email\` (\`email\`),
  KEY \`np\` (\`name\`(10),\`email\`(20)) IGNORED,
  FULLTEXT KEY \`ft\` (\`name\`),
  CONSTRAINT \`fk\` FOREIGN KEY (\`id\`) REFERENCES \`p\` (\`id\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

describe('stage indexes (MySQL)', () => {
  it('takes the plain and unique secondary indexes verbatim, not the primary key, FULLTEXT or a column comment', () => {
    const idx = parseDeferrableIndexes(ddl);
    expect(idx.map((i) => i.name)).toEqual(['phone`u', 'by email', 'np']);
    expect(idx[0]!.clause).toBe("UNIQUE KEY `phone``u` (`phone`) COMMENT 'one phone, one client'");
    expect(idx[2]!.clause).toBe('KEY `np` (`name`(10),`email`(20)) IGNORED');
    const t = { schema: '', name: 't' };
    expect(dropIndexesSql(t, idx)).toBe('ALTER TABLE `t` DROP INDEX `phone``u`, DROP INDEX `by email`, DROP INDEX `np`');
    expect(addIndexesSql(t, idx)).toBe("ALTER TABLE `t` ADD UNIQUE KEY `phone``u` (`phone`) COMMENT 'one phone, one client', ADD KEY `by email` (`email`), ADD KEY `np` (`name`(10),`email`(20)) IGNORED");
  });
});
