/**
 * The linear produce path installed by kafkajs.ts must write exactly KafkaJS's bytes and group
 * exactly as KafkaJS does: both are compared with KafkaJS's own implementations on generated
 * records, including the ones the fast path hands back to the original (headers, large deltas).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { crc32c, fastRecordDecoder, fastRecordEncoder, groupMessagesPerPartition, kafkajsOriginals, murmur2, Partitioners, type KafkaDecoder, type RecordBatchContext, type RecordDecoder, type RecordEncoder, type RecordInput } from './kafkajs.js';

const require = createRequire(import.meta.url);

const bytes = fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)));
const delta = fc.oneof(fc.integer({ min: -200, max: 200 }), fc.integer(), fc.maxSafeInteger(), fc.constant(2 ** 31), fc.constant(-(2 ** 31)));
const recordInput: fc.Arbitrary<RecordInput> = fc.record({
  offsetDelta: fc.oneof(fc.nat({ max: 20_000 }), fc.integer()),
  timestampDelta: delta,
  key: bytes,
  value: bytes,
  headers: fc.oneof(fc.constant(undefined), fc.constant({}), fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.string({ maxLength: 8 }), { minKeys: 1, maxKeys: 2 })),
}, { requiredKeys: ['key', 'value'] });

describe('linear KafkaJS produce path', () => {
  it('is the Record and grouping that KafkaJS itself loads', () => {
    const record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as unknown;
    const group = require('kafkajs/src/producer/groupMessagesPerPartition.js') as unknown;
    expect(record).not.toBe(kafkajsOriginals.record);
    expect(group).not.toBe(kafkajsOriginals.groupMessagesPerPartition);
    expect((group as { name: string }).name).toBe(groupMessagesPerPartition.name);
  });

  it('writes the same record bytes as KafkaJS', () => {
    const fast = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as typeof kafkajsOriginals.record;
    fc.assert(fc.property(recordInput, (input) => {
      expect(fast(input).buffer.equals(kafkajsOriginals.record(input).buffer)).toBe(true);
    }), { numRuns: 2_000 });
  });

  it('writes the same bytes for the records fieldsync sends (no headers, deltas 0…n)', () => {
    const fast = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as typeof kafkajsOriginals.record;
    for (let i = 0; i < 20_000; i += 7) {
      const input = { offsetDelta: i, timestampDelta: 0, key: Buffer.alloc(i % 40, 1), value: Buffer.alloc(i % 700, 2) };
      expect(fast(input).buffer.equals(kafkajsOriginals.record(input).buffer)).toBe(true);
    }
  });

  it('groups messages by partition in order, as KafkaJS does', () => {
    fc.assert(fc.property(fc.array(fc.nat({ max: 5 }), { maxLength: 300 }), fc.integer({ min: 0, max: 6 }), (partitions, count) => {
      const messages = partitions.map((p, i) => ({ p, i }));
      const input = {
        topic: 't',
        partitionMetadata: Array.from({ length: count }, (_, i) => ({ partitionId: i })),
        messages,
        partitioner: ({ message }: { message: { p: number } }) => message.p,
      };
      expect(groupMessagesPerPartition(input)).toEqual(kafkajsOriginals.groupMessagesPerPartition(input));
    }));
  });

  it("hashes keys as KafkaJS's murmur2 does, so every key keeps its partition", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (a) => {
      const key = Buffer.from(a);
      expect(murmur2(key)).toBe(kafkajsOriginals.murmur2(key));
    }), { numRuns: 3_000 });
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (s) => { expect(murmur2(s)).toBe(kafkajsOriginals.murmur2(s)); }));
    // the default partitioner KafkaJS builds uses the installed hash and picks the same partitions
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = [0, 1, 2].map((partitionId) => ({ partitionId, leader: 1, replicas: [1], isr: [1], partitionErrorCode: 0 }));
    for (let i = 0; i < 2_000; i++) {
      const key = Buffer.from(`\0\0\0\0\u0001key-${i}`);
      const expected = (kafkajsOriginals.murmur2(key) & 0x7fffffff) % 3;
      expect(partitioner({ topic: 't', partitionMetadata, message: { key, value: null } })).toBe(expected);
    }
  });

  it("checksums as KafkaJS's crc32C does", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 3_000 }), fc.nat({ max: 7 }), (a, skip) => {
      const buf = Buffer.from(a).subarray(Math.min(skip, a.length)); // unaligned starts too
      expect(crc32c(buf)).toBe(kafkajsOriginals.crc32c(buf));
    }), { numRuns: 1_000 });
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283); // the CRC-32C check value
  });

  it('decodes records as KafkaJS does, from the same position, for any batch context', () => {
    const fast = require('kafkajs/src/protocol/recordBatch/record/v0/decoder.js') as RecordDecoder;
    const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => KafkaDecoder;
    const bigNumber = fc.oneof(fc.nat({ max: 2_000_000_000_000 }).map(String), fc.constant('-1'), fc.constant('9007199254740993'), fc.bigInt({ min: 0n, max: 2n ** 62n }).map(String));
    const context: fc.Arbitrary<RecordBatchContext> = fc.record({
      firstOffset: bigNumber, firstTimestamp: bigNumber, magicByte: fc.constant(2), isControlBatch: fc.option(fc.boolean(), { nil: undefined }),
      timestampType: fc.constantFrom(0, 1), maxTimestamp: fc.option(bigNumber, { nil: undefined }),
    }, { requiredKeys: ['firstOffset', 'firstTimestamp'] });
    fc.assert(fc.property(recordInput, context, fc.uint8Array({ maxLength: 4 }), (input, ctx, prefix) => {
      const bytes = Buffer.concat([Buffer.from(prefix), kafkajsOriginals.record(input).buffer]);
      // a record buffer starts at its attributes: skip the prefix and the record's length varint
      const a = new Decoder(bytes); a.offset = prefix.length; (a as unknown as { readVarInt(): number }).readVarInt();
      const b = new Decoder(bytes); b.offset = a.offset;
      expect(fast(a, ctx)).toEqual(kafkajsOriginals.recordDecoder(b, ctx));
      expect(a.offset).toBe(b.offset);
    }), { numRuns: 3_000 });
  });

  it('takes the fast paths (no fallback) for the records fieldsync sends and reads', () => {
    const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => KafkaDecoder;
    const Encoder = require('kafkajs/src/protocol/encoder.js') as { prototype: ReturnType<RecordEncoder> };
    const fellBack = (): never => { throw new Error('fell back to KafkaJS'); };
    const encode = fastRecordEncoder(Encoder, fellBack);
    const decode = fastRecordDecoder(fellBack);
    const input = { offsetDelta: 4_321, timestampDelta: 0, key: Buffer.from([0, 0, 0, 0, 7, 2]), value: Buffer.alloc(900, 3) };
    const bytes = encode(input).buffer;
    expect(bytes.equals(kafkajsOriginals.record(input).buffer)).toBe(true);
    const d = new Decoder(bytes);
    (d as unknown as { readVarInt(): number }).readVarInt();
    const r = decode(d, { firstOffset: '1000000', firstTimestamp: '1764489600000', magicByte: 2, timestampType: 0 });
    expect(r).toMatchObject({ offset: '1004321', timestamp: '1764489600000', key: input.key, value: input.value, headers: {} });
  });

  it('builds the same Produce request bytes as KafkaJS (no spread per message)', async () => {
    const installed = require('kafkajs/src/protocol/requests/produce/v3/request.js') as typeof kafkajsOriginals.produceRequestV3;
    expect(installed).not.toBe(kafkajsOriginals.produceRequestV3);
    const Long = require('kafkajs/src/utils/long.js') as { fromInt(n: number): unknown };
    const message = fc.record({
      key: bytes, value: bytes,
      timestamp: fc.oneof(fc.constant(undefined), fc.constant(null), fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 })),
      headers: fc.oneof(fc.constant(undefined), fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.string({ maxLength: 8 }), { minKeys: 1, maxKeys: 2 })),
      partition: fc.nat(5),
    }, { requiredKeys: ['key', 'value'] });
    const partitions = fc.array(fc.record({ partition: fc.nat(5), firstSequence: fc.nat(1000), messages: fc.array(message, { maxLength: 20 }) }), { minLength: 1, maxLength: 3 });
    const topicData = fc.array(fc.record({ topic: fc.string({ minLength: 1, maxLength: 10 }), partitions }), { minLength: 1, maxLength: 3 });
    const now = vi.spyOn(Date, 'now').mockReturnValue(1_764_489_600_000); // both sides stamp "now" alike
    try {
      await fc.assert(fc.asyncProperty(topicData, fc.boolean(), fc.constantFrom(-1, 0, 1), async (data, transactional, acks) => {
        const params = { acks, timeout: 30_000, transactionalId: transactional ? 'tx' : null, producerId: Long.fromInt(7), producerEpoch: 2, topicData: data };
        const ours = await installed(params).encode();
        const theirs = await kafkajsOriginals.produceRequestV3(params).encode();
        expect(ours.buffer.equals(theirs.buffer)).toBe(true);
        expect(installed(params).expectResponse()).toBe(kafkajsOriginals.produceRequestV3(params).expectResponse());
      }), { numRuns: 300 });
    } finally {
      now.mockRestore();
    }
  });

  it('is the only module that imports values from kafkajs (type imports are erased)', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.name === 'node_modules' || e.name.startsWith('.') ? [] : e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
    const offenders = ['lib', 'services', 'cli', 'bench', 'test', 'scripts'].flatMap((d) => files(join(root, d)))
      .filter((f) => !f.endsWith(join('lib', 'kafka', 'kafkajs.ts')))
      .filter((f) => /^import (?!type )[^;]*from 'kafkajs';/m.test(readFileSync(f, 'utf8')))
      .map((f) => relative(root, f));
    expect(offenders).toEqual([]);
  });
});
