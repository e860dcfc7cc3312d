/**
 * KafkaJS's Produce request, version 3 (`protocol/requests/produce/v3/request.js`, which the
 * versions 4–7 that brokers negotiate today wrap), spelled again with one difference: each
 * message reaches the record encoder as a plain object of the fields the encoder reads
 * (key, value, headers and the two deltas), instead of `{ ...message, offsetDelta,
 * timestampDelta }`. Copying every message's properties per record was 6.5% of the capture's
 * busy CPU (`node --cpu-prof` on bench/capture-throughput.ts, PostgreSQL source, 300,000
 * events). Everything else is KafkaJS's own code path, in KafkaJS's order, so the bytes are
 * the same: lib/kafka/kafkajs.test.ts encodes random requests both ways and compares them.
 *
 * lib/kafka/kafkajs.ts installs it in place of the original module.
 */

/** The parts of KafkaJS's internal `Encoder` a request is built with. */
export interface RequestEncoder {
  writeString(s: string | null): RequestEncoder;
  writeInt16(n: number): RequestEncoder;
  writeInt32(n: number): RequestEncoder;
  writeArray(items: unknown[]): RequestEncoder;
  writeEncoder(e: RequestEncoder): RequestEncoder;
  size(): number;
  readonly buffer: Buffer;
}

export interface ProduceMessage {
  key?: unknown;
  value?: unknown;
  headers?: unknown;
  timestamp?: number | string | null;
}

/** KafkaJS internals the request is built from (each read from KafkaJS itself). */
export interface ProduceRequestDeps {
  Encoder: new () => RequestEncoder;
  /** `utils/long`'s Long.fromInt. */
  longFromInt: (n: number) => unknown;
  apiKey: number;
  compressionNone: number;
  Record: (input: { offsetDelta: number; timestampDelta: number; key: unknown; value: unknown; headers: unknown }) => unknown;
  RecordBatch: (input: Record<string, unknown>) => Promise<RequestEncoder>;
}

export interface ProduceRequestParams {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  compression?: number;
  topicData: { topic: string; partitions: { partition: number; firstSequence?: number; messages: ProduceMessage[] }[] }[];
}

export function produceRequestV3(deps: ProduceRequestDeps) {
  const { Encoder, Record, RecordBatch } = deps;

  const partitionsEncoder = (compression: number) => async ({ partition, messages, transactionalId, firstSequence, producerId, producerEpoch }: {
    partition: number; messages: ProduceMessage[]; transactionalId: string | null; firstSequence?: number; producerId: unknown; producerEpoch: number;
  }) => {
    const dateNow = Date.now();
    // as KafkaJS: the default sort (as strings), NaN-free because only non-null timestamps remain
    const messageTimestamps = messages.map((m) => m.timestamp).filter((t) => t != null).sort();
    const timestamps = messageTimestamps.length === 0 ? [dateNow] : messageTimestamps;
    const firstTimestamp = timestamps[0] as number;
    const maxTimestamp = timestamps[timestamps.length - 1];
    const records = new Array<unknown>(messages.length);
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      // the fields KafkaJS's Record reads from its `{ ...message, offsetDelta, timestampDelta }`
      records[i] = Record({ offsetDelta: i, timestampDelta: ((m.timestamp || dateNow) as number) - firstTimestamp, key: m.key, value: m.value, headers: m.headers });
    }
    const recordBatch = await RecordBatch({
      compression, records, firstTimestamp, maxTimestamp, producerId, producerEpoch, firstSequence,
      transactional: !!transactionalId, lastOffsetDelta: records.length - 1,
    });
    return new Encoder().writeInt32(partition).writeInt32(recordBatch.size()).writeEncoder(recordBatch);
  };

  const topicEncoder = (compression: number) => async ({ topic, partitions, transactionalId, producerId, producerEpoch }: {
    topic: string; partitions: ProduceRequestParams['topicData'][number]['partitions']; transactionalId: string | null; producerId: unknown; producerEpoch: number;
  }) => {
    const encodePartitions = partitionsEncoder(compression);
    const encodedPartitions: RequestEncoder[] = [];
    for (const data of partitions) encodedPartitions.push(await encodePartitions({ ...data, transactionalId, producerId, producerEpoch }));
    return new Encoder().writeString(topic).writeArray(encodedPartitions);
  };

  return ({ acks, timeout, transactionalId = null, producerId = deps.longFromInt(-1), producerEpoch = 0, compression = deps.compressionNone, topicData }: ProduceRequestParams) => ({
    apiKey: deps.apiKey,
    apiVersion: 3,
    apiName: 'Produce',
    expectResponse: () => acks !== 0,
    encode: async () => {
      const encodeTopic = topicEncoder(compression);
      const encodedTopicData: RequestEncoder[] = [];
      for (const data of topicData) encodedTopicData.push(await encodeTopic({ ...data, transactionalId, producerId, producerEpoch }));
      return new Encoder().writeString(transactionalId).writeInt16(acks).writeInt32(timeout).writeArray(encodedTopicData);
    },
  });
}
