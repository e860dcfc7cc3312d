import { describe, expect, it } from 'vitest';
import { DataError } from '../errors.js';
import { DEAD_LETTER_HEADERS, deadLetterHeaders } from './dead-letter.js';

describe('dead-letter headers', () => {
  it('say why, where from and when', () => {
    const h = deadLetterHeaders({
      kind: 'apply', error: new DataError('column "amount": value out of range'), target: 'invoice', table: 'clients',
      topic: 'fs.billing.public.clients', partition: 2, offset: 12345678901234n, key: Buffer.from('k'), value: Buffer.from('v'),
    }, new Date('2026-01-02T03:04:05.678Z'));
    expect(h).toEqual({
      [DEAD_LETTER_HEADERS.reason]: 'column "amount": value out of range',
      [DEAD_LETTER_HEADERS.kind]: 'apply',
      [DEAD_LETTER_HEADERS.errorClass]: 'DataError',
      [DEAD_LETTER_HEADERS.sourceTopic]: 'fs.billing.public.clients',
      [DEAD_LETTER_HEADERS.sourcePartition]: '2',
      [DEAD_LETTER_HEADERS.sourceOffset]: '12345678901234',
      [DEAD_LETTER_HEADERS.time]: '2026-01-02T03:04:05.678Z',
      [DEAD_LETTER_HEADERS.target]: 'invoice',
    });
  });
});
