import { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded } from './kafka/kafkajs.js';
import { describe, expect, it } from 'vitest';
import { ConfigError, DataError, FieldsyncError, isRetriable, wrap } from './errors.js';

describe('isRetriable', () => {
  it('follows the retriable flag of fieldsync errors', () => {
    expect(isRetriable(new FieldsyncError('x', { retriable: true }))).toBe(true);
    expect(isRetriable(new DataError('bad value'))).toBe(false);
    expect(isRetriable(new ConfigError('bad field'))).toBe(false);
  });

  it('treats connection and lock failures of the drivers as transient, programming errors as fatal', () => {
    expect(isRetriable(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isRetriable(Object.assign(new Error('deadlock detected'), { code: '40P01' }))).toBe(true);
    expect(isRetriable(Object.assign(new Error('Deadlock found'), { code: 'ER_LOCK_DEADLOCK' }))).toBe(true);
    // MariaDB shutting down kills the connections of its clients
    expect(isRetriable(Object.assign(new Error('Connection was killed'), { code: 'ER_CONNECTION_KILLED', errno: 1927, sqlState: '70100' }))).toBe(true);
    expect(isRetriable(Object.assign(new Error('Connection was killed'), { errno: 1927 }))).toBe(true);
    expect(isRetriable(Object.assign(new Error('Duplicate entry'), { code: 'ER_DUP_ENTRY', errno: 1062 }))).toBe(false);
    expect(isRetriable(new TypeError('x is undefined'))).toBe(false);
    expect(isRetriable('a string')).toBe(false);
  });

  it('looks through KafkaJS giving up on a connection to its retriable cause', () => {
    const refused = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED');
    expect(isRetriable(refused)).toBe(true);
    expect(isRetriable(new KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 5, retryTime: 100 }))).toBe(true);
    const fatal = new TypeError('cannot read properties of undefined');
    expect(isRetriable(new KafkaJSNumberOfRetriesExceeded(fatal, { retryCount: 5, retryTime: 100 }))).toBe(false);
  });

  it('keeps the retriable flag through wrap()', () => {
    const e = wrap('unable to read the outbox', Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
    expect(e.retriable).toBe(true);
    expect(e.message).toBe('unable to read the outbox: reset');
  });
});
