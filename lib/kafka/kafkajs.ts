/**
 * KafkaJS, loaded with two producer internals replaced by linear-time equivalents that write
 * the same bytes. Every value import of `kafkajs` in the project goes through this module.
 *
 * Why: a CPU profile of the capture service draining an outbox (`node --cpu-prof` on
 * bench/capture-throughput.ts, batches of 5,000 events) spent a fifth of its busy time in
 * two places of KafkaJS's produce path and in the garbage they leave:
 *
 *  - `producer/groupMessagesPerPartition` appends each message with `[...current, message]`,
 *    copying the partition's list so far: quadratic in the batch. For 5,000 messages on three
 *    partitions that is ~4 million element copies and ~33 MB of short-lived arrays per send.
 *  - `protocol/recordBatch/record/v0` builds every record in a fresh zero-filled 512-byte
 *    `Encoder`, and computes the timestamp delta's varlong with Long.js, for records whose
 *    bytes are known up front.
 *
 *  - `producer/partitioners/default/murmur2` hashes each key with BigInt-backed Long
 *    arithmetic; 32-bit `Math.imul` gives the same hash (only the low 32 bits are ever used).
 *  - `protocol/recordBatch/record/v0/decoder` (the consumer's side) parses each record's
 *    timestamp and offset through BigInt-backed Longs and strings; plain numbers give the
 *    same strings while they stay below 2^53.
 *  - `protocol/recordBatch/crc32C` checksums a record batch a byte at a time; slicing by 8
 *    bytes gives the same CRC in a fraction of the time.
 *  - `protocol/requests/produce/v3/request` (wrapped by v4–v7) copies every message with an
 *    object spread before encoding its record: produce-request.ts passes the record's fields.
 *
 * The replacements are put into Node's CommonJS module cache under the original modules'
 * file names *before* KafkaJS's producer requires them, so KafkaJS binds them at load. If
 * KafkaJS was loaded earlier by a direct `import 'kafkajs'` (which would leave the slow
 * versions bound), loading this module throws: the rule is that only this module imports
 * KafkaJS's values.
 *
 * The record fast path covers what fieldsync sends (no headers, deltas that fit 31 bits);
 * anything else goes to KafkaJS's own `Record`. lib/kafka/kafkajs.test.ts compares the bytes,
 * the grouping, the hash and the checksum with the originals on random input.
 */
import { createRequire } from 'node:module';
import type * as KafkaJS from 'kafkajs';
import { produceRequestV3 as produceRequestV3From, type ProduceRequestDeps } from './produce-request.js';

const require = createRequire(import.meta.url);

/** The part of KafkaJS's internal `Encoder` this module relies on. */
export interface KafkaEncoder { buf: Buffer; offset: number; readonly buffer: Buffer }
interface EncoderClass { prototype: KafkaEncoder }

export interface RecordInput {
  offsetDelta?: number;
  timestampDelta?: number;
  key?: Buffer | string | null;
  value?: Buffer | string | null;
  headers?: Record<string, unknown>;
}
export type RecordEncoder = (input: RecordInput) => KafkaEncoder;

export interface GroupInput<M> {
  topic: string;
  partitionMetadata: unknown[];
  messages: M[];
  partitioner: (args: { topic: string; partitionMetadata: unknown[]; message: M }) => number;
}
export type GroupMessages = <M>(input: GroupInput<M>) => Record<number, M[]>;

const PATCHED = Symbol.for('fieldsync.kafkajs.linear-produce');
const GROUP_MODULE = 'kafkajs/src/producer/groupMessagesPerPartition.js';
const RECORD_MODULE = 'kafkajs/src/protocol/recordBatch/record/v0/index.js';
const MURMUR2_MODULE = 'kafkajs/src/producer/partitioners/default/murmur2.js';
const CRC32C_MODULE = 'kafkajs/src/protocol/recordBatch/crc32C/index.js';
const RECORD_DECODER_MODULE = 'kafkajs/src/protocol/recordBatch/record/v0/decoder.js';
const SEND_MODULE = 'kafkajs/src/producer/sendMessages.js';
const PRODUCE_V3_MODULE = 'kafkajs/src/protocol/requests/produce/v3/request.js';

/** Same result as KafkaJS's grouping (an object keyed by partition, messages in order), in one pass. */
export function groupMessagesPerPartition<M>({ topic, partitionMetadata, messages, partitioner }: GroupInput<M>): Record<number, M[]> {
  const result: Record<number, M[]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (result[partition] ??= []).push(message);
  }
  return result;
}

// A varint of a zigzag-encoded 31-bit value takes at most 5 bytes.
const FAST_LIMIT = 0x3fffffff;

function zigzag(n: number): number {
  return ((n << 1) ^ (n >> 31)) >>> 0;
}
function varintSize(u: number): number {
  return u < 0x80 ? 1 : u < 0x4000 ? 2 : u < 0x200000 ? 3 : u < 0x10000000 ? 4 : 5;
}
function writeVarint(buf: Buffer, at: number, u: number): number {
  while (u >= 0x80) {
    buf[at++] = (u & 0x7f) | 0x80;
    u >>>= 7;
  }
  buf[at++] = u;
  return at;
}

/**
 * A record encoder that writes KafkaJS's exact bytes into one exactly-sized buffer (from
 * Node's pool for small records) when it can, and defers to `original` otherwise.
 */
export function fastRecordEncoder(Encoder: EncoderClass, original: RecordEncoder): RecordEncoder {
  return (input) => {
    const { offsetDelta = 0, timestampDelta = 0, key, value, headers } = input;
    if (
      (headers !== undefined && Object.keys(headers).length > 0)
      || !Number.isInteger(offsetDelta) || Math.abs(offsetDelta) > FAST_LIMIT
      || !Number.isInteger(timestampDelta) || Math.abs(timestampDelta) > FAST_LIMIT
      || !(key == null || Buffer.isBuffer(key)) || !(value == null || Buffer.isBuffer(value))
    ) return original(input);
    const ts = zigzag(timestampDelta);
    const od = zigzag(offsetDelta);
    const keyLen = key == null ? -1 : key.length;
    const valueLen = value == null ? -1 : value.length;
    const kz = zigzag(keyLen);
    const vz = zigzag(valueLen);
    const body = 1 + varintSize(ts) + varintSize(od) + varintSize(kz) + Math.max(keyLen, 0)
      + varintSize(vz) + Math.max(valueLen, 0) + 1; // + the empty header array's count
    const bz = zigzag(body);
    const total = varintSize(bz) + body;
    const buf = Buffer.allocUnsafe(total);
    let at = writeVarint(buf, 0, bz);
    buf[at++] = 0; // attributes
    at = writeVarint(buf, at, ts);
    at = writeVarint(buf, at, od);
    at = writeVarint(buf, at, kz);
    if (key != null) at += key.copy(buf, at);
    at = writeVarint(buf, at, vz);
    if (value != null) at += value.copy(buf, at);
    buf[at++] = 0; // zero headers
    const encoder = Object.create(Encoder.prototype) as KafkaEncoder;
    encoder.buf = buf;
    encoder.offset = at;
    return encoder;
  };
}

/**
 * Kafka's murmur2 (the Java client's `Utils.murmur2`, which KafkaJS's default partitioner
 * follows) in 32-bit arithmetic. Keys are Buffers or are hashed as their string's UTF-8.
 */
export function murmur2(key: Buffer | string): number {
  const data = Buffer.isBuffer(key) ? key : Buffer.from(String(key));
  const length = data.length;
  const m = 0x5bd1e995;
  let h = (0x9747b28c ^ length) | 0;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  // the Java switch's fall-through: the last one to three bytes, highest first
  const tail = length & ~3;
  const rest = length & 3;
  if (rest === 3) h ^= data[tail + 2]! << 16;
  if (rest >= 2) h ^= data[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= data[tail]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), slicing by 8: eight 256-entry tables.
const CRC_TABLES = (() => {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let s = 1; s < 8; s++) t[s * 256 + n] = (t[(s - 1) * 256 + n]! >>> 8) ^ t[t[(s - 1) * 256 + n]! & 0xff]!;
  }
  return t;
})();

/** CRC-32C of a buffer, unsigned, as KafkaJS's `crc32C` returns it. */
export function crc32c(buf: Buffer): number {
  const t = CRC_TABLES;
  let crc = -1;
  let i = 0;
  const end8 = buf.length - (buf.length & 7);
  for (; i < end8; i += 8) {
    const a = crc ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    const b = buf[i + 4]! | (buf[i + 5]! << 8) | (buf[i + 6]! << 16) | (buf[i + 7]! << 24);
    crc = t[1792 + (a & 0xff)]! ^ t[1536 + ((a >>> 8) & 0xff)]! ^ t[1280 + ((a >>> 16) & 0xff)]! ^ t[1024 + (a >>> 24)]!
      ^ t[768 + (b & 0xff)]! ^ t[512 + ((b >>> 8) & 0xff)]! ^ t[256 + ((b >>> 16) & 0xff)]! ^ t[b >>> 24]!;
  }
  for (; i < buf.length; i++) crc = t[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** The part of KafkaJS's internal `Decoder` a record decoder reads. */
export interface KafkaDecoder { buffer: Buffer; offset: number }
export interface RecordBatchContext {
  firstOffset?: string; firstTimestamp?: string; magicByte?: number; isControlBatch?: boolean;
  timestampType?: number; maxTimestamp?: string;
}
export interface DecodedRecord {
  magicByte: number | undefined; attributes: number; timestamp: string | undefined; offset: string;
  key: Buffer | null; value: Buffer | null; headers: Record<string, unknown>; isControlRecord: boolean;
  batchContext: RecordBatchContext;
}
export type RecordDecoder = (decoder: KafkaDecoder, batchContext?: RecordBatchContext) => DecodedRecord;

const LOG_APPEND_TIME = 1;
const FAST_VARINT_BYTES = 4; // up to 2^28: lengths and deltas of any record fieldsync reads

/**
 * KafkaJS's record decoder for records without headers whose numbers stay plain-number
 * exact; any other record (headers, a varint over 4 bytes, offsets or timestamps at or above
 * 2^53) is decoded by `original` from the same position.
 */
export function fastRecordDecoder(original: RecordDecoder): RecordDecoder {
  return (decoder, batchContext = {}) => {
    const { firstOffset, firstTimestamp, magicByte, timestampType, maxTimestamp } = batchContext;
    const isControlBatch = batchContext.isControlBatch ?? false;
    const firstTs = Number(firstTimestamp);
    const firstOff = Number(firstOffset);
    const buf = decoder.buffer;
    const start = decoder.offset;
    let at = start;
    // an unsigned varint of at most FAST_VARINT_BYTES bytes, or -1 when longer
    const varint = (): number => {
      let result = 0;
      for (let i = 0; i < FAST_VARINT_BYTES * 7; i += 7) {
        const b = buf[at++];
        if (b === undefined) return -1;
        result |= (b & 0x7f) << i;
        if (b < 0x80) return result >>> 0;
      }
      return -1;
    };
    const unzig = (u: number): number => (u >>> 1) ^ -(u & 1);
    if (Number.isSafeInteger(firstTs) && Number.isSafeInteger(firstOff) && at < buf.length) {
      const attributes = buf.readInt8(at++);
      const ts = varint();
      const od = ts < 0 ? -1 : varint();
      const kl = od < 0 ? -1 : varint();
      const keyLen = unzig(kl);
      const keyEnd = at + Math.max(keyLen, 0);
      if (kl >= 0 && keyLen >= -1 && keyEnd <= buf.length) {
        const key = keyLen === -1 ? null : buf.subarray(at, keyEnd);
        at = keyEnd;
        const vl = varint();
        const valueLen = unzig(vl);
        const valueEnd = at + Math.max(valueLen, 0);
        if (vl >= 0 && valueLen >= -1 && valueEnd <= buf.length) {
          const value = valueLen === -1 ? null : buf.subarray(at, valueEnd);
          at = valueEnd;
          const hc = varint();
          const headerCount = unzig(hc);
          const timestamp = unzig(ts) + firstTs;
          const offset = unzig(od) + firstOff;
          if (hc >= 0 && (headerCount === 0 || headerCount === -1) && Number.isSafeInteger(timestamp) && Number.isSafeInteger(offset)) {
            decoder.offset = at;
            return {
              magicByte,
              attributes,
              timestamp: timestampType === LOG_APPEND_TIME && maxTimestamp ? maxTimestamp : String(timestamp),
              offset: String(offset),
              key,
              value,
              headers: {},
              isControlRecord: isControlBatch,
              batchContext,
            };
          }
        }
      }
    }
    decoder.offset = start;
    return original(decoder, batchContext);
  };
}

interface CachedModule { exports: unknown }
type Marked = { [PATCHED]?: true };

/** KafkaJS's own implementations, kept for the tests that compare bytes with them. */
export interface KafkaJSOriginals {
  record: RecordEncoder;
  groupMessagesPerPartition: GroupMessages;
  murmur2: (key: Buffer | string) => number;
  crc32c: (buf: Buffer) => number;
  recordDecoder: RecordDecoder;
  produceRequestV3: ProduceRequestV3;
}
export const kafkajsOriginals: KafkaJSOriginals = installLinearProduce();

type ProduceRequestV3 = ReturnType<typeof produceRequestV3From>;

/** The KafkaJS internals the produce request is built from, read from KafkaJS itself. */
function kafkajsInternals(): ProduceRequestDeps {
  const internal = <T>(path: string): T => require(require.resolve(`kafkajs/src/${path}`)) as T;
  const Long = internal<{ fromInt: (n: number) => unknown }>('utils/long.js');
  return {
    Encoder: internal<ProduceRequestDeps['Encoder']>('protocol/encoder.js'),
    longFromInt: (n) => Long.fromInt(n),
    apiKey: internal<{ Produce: number }>('protocol/requests/apiKeys.js').Produce,
    compressionNone: internal<{ Types: { None: number } }>('protocol/message/compression/index.js').Types.None,
    Record: internal<ProduceRequestDeps['Record']>('protocol/recordBatch/record/v0/index.js'),
    RecordBatch: internal<{ RecordBatch: ProduceRequestDeps['RecordBatch'] }>('protocol/recordBatch/v0/index.js').RecordBatch,
  };
}

function installLinearProduce(): KafkaJSOriginals {
  const cache = require.cache as Record<string, CachedModule | undefined>;
  const groupPath = require.resolve(GROUP_MODULE);
  const recordPath = require.resolve(RECORD_MODULE);
  const murmurPath = require.resolve(MURMUR2_MODULE);
  const crcPath = require.resolve(CRC32C_MODULE);
  const decoderPath = require.resolve(RECORD_DECODER_MODULE);
  const producePath = require.resolve(PRODUCE_V3_MODULE);
  const current = require(groupPath) as GroupMessages & Marked & { original?: unknown };
  if (current[PATCHED]) {
    // Loaded and patched already (another copy of this module in the same process, as test
    // runners do): the originals hang off the installed functions.
    const originalOf = <F>(path: string): F => { const f = require(path) as F & { original?: F }; return f.original ?? f; };
    return {
      record: originalOf(recordPath), groupMessagesPerPartition: originalOf(groupPath), murmur2: originalOf(murmurPath), crc32c: originalOf(crcPath),
      recordDecoder: originalOf(decoderPath), produceRequestV3: originalOf(producePath),
    };
  }
  if (cache[require.resolve(SEND_MODULE)]) {
    throw new Error('unable to install the linear KafkaJS produce path: kafkajs was loaded before lib/kafka/kafkajs.ts; import KafkaJS values only from lib/kafka/kafkajs.ts');
  }
  // one way for all six: the original read from the cache, a fresh function installed in
  // its place, marked and carrying the original (for the tests and a second load). The fresh
  // function is a bound copy, so marking it never mutates an exported function, and a call
  // (once per record, for some) goes straight through, with no rest/spread array.
  const replace = <F extends (...args: never[]) => unknown>(path: string, fast: (original: F) => F): F => {
    const original = require(path) as F;
    const impl = fast(original); // built once, not per call
    const installed = impl.bind(undefined) as F;
    Object.defineProperty(installed, 'name', { value: impl.name });
    cache[path]!.exports = Object.assign(installed, { [PATCHED]: true as const, original });
    return original;
  };
  const Encoder = require(require.resolve('kafkajs/src/protocol/encoder.js')) as EncoderClass;
  const originals = {
    groupMessagesPerPartition: replace<GroupMessages>(groupPath, () => groupMessagesPerPartition),
    record: replace<RecordEncoder>(recordPath, (original) => fastRecordEncoder(Encoder, original)),
    recordDecoder: replace<RecordDecoder>(decoderPath, (original) => fastRecordDecoder(original)),
    murmur2: replace<(key: Buffer | string) => number>(murmurPath, () => murmur2),
    crc32c: replace<(buf: Buffer) => number>(crcPath, () => crc32c),
  };
  // last: the request's own dependencies (the record encoder, the record batch with its
  // checksum) are loaded now, so they bind the replacements above
  const produceRequestV3 = replace<ProduceRequestV3>(producePath, () => produceRequestV3From(kafkajsInternals()));
  return { ...originals, produceRequestV3 };
}

const kafkajs = require('kafkajs') as typeof KafkaJS;

export const Kafka: typeof KafkaJS.Kafka = kafkajs.Kafka;
export type Kafka = KafkaJS.Kafka;
export const logLevel: typeof KafkaJS.logLevel = kafkajs.logLevel;
export type logLevel = KafkaJS.logLevel;
export const KafkaJSConnectionError: typeof KafkaJS.KafkaJSConnectionError = kafkajs.KafkaJSConnectionError;
export const KafkaJSNumberOfRetriesExceeded: typeof KafkaJS.KafkaJSNumberOfRetriesExceeded = kafkajs.KafkaJSNumberOfRetriesExceeded;
export const Partitioners: typeof KafkaJS.Partitioners = kafkajs.Partitioners;
export default kafkajs;
