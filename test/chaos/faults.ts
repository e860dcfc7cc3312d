/**
 * The fault injector: each fault is one awaited action against the chaos cluster, counted
 * by kind. Services are killed with SIGKILL (the supervisor starts them again, as a
 * Kubernetes restart policy would); databases are stopped uncleanly (PostgreSQL immediate,
 * MariaDB SIGKILL) and started again on the same port; the broker is SIGKILLed and started
 * again. The bad-data faults record exactly what they injected, so that the dead-letter
 * topic can be checked against it afterwards.
 *
 * Around a restart of a database, that side's writer is paused (its in-flight write is
 * awaited first): a write whose commit acknowledgement is lost has an unknown outcome,
 * and the model must stay exact.
 */
import { Kafka, logLevel } from '../../lib/kafka/kafkajs.js';
import { waitFor } from '../support/helpers.js';
import { topicMessages } from './checks.js';
import type { ChaosCluster, ServiceName } from './cluster.js';
import type { ReconcileLoop } from './reconcile-loop.js';
import { FAULT_ID_BASE, type Model, type Side, type Writer } from './workload.js';

export const FAULT_KINDS = [
  'kill-capture-pg', 'kill-capture-maria', 'kill-applier-maria', 'kill-applier-pg', 'kill-reconciler',
  'restart-kafka', 'restart-mariadb', 'restart-postgres', 'poison-message', 'overflow-value',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface InjectedDeadLetter {
  kind: 'poison' | 'overflow';
  topic: string;
  partition?: number;
  offset?: string;
  /** Overflow: the row whose update the target could not hold. */
  rowId?: number;
}

export class FaultInjector {
  readonly counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  readonly injected: InjectedDeadLetter[] = [];
  private overflowRows = 0;

  constructor(private readonly c: ChaosCluster, private readonly writers: Record<Side, Writer>, private readonly model: Model,
    private readonly reconcile: ReconcileLoop, private readonly random: () => number, private readonly log: (m: string) => void) {}

  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }

  async inject(kind: FaultKind): Promise<void> {
    this.log(`fault: ${kind}`);
    switch (kind) {
      case 'kill-capture-pg': case 'kill-capture-maria': case 'kill-applier-maria': case 'kill-applier-pg':
        this.c.services[kind.slice('kill-'.length) as ServiceName].kill9();
        break;
      case 'kill-reconciler':
        await this.reconcile.killAtRandomMoment(this.random);
        break;
      case 'restart-kafka':
        await this.c.kafka.restart('kill');
        break;
      case 'restart-mariadb':
        await this.restartDb('maria');
        break;
      case 'restart-postgres':
        await this.restartDb('pg');
        break;
      case 'poison-message':
        await this.poison();
        break;
      case 'overflow-value':
        await this.overflow();
        break;
    }
    this.counts[kind]++;
  }

  private async restartDb(side: Side): Promise<void> {
    const writer = this.writers[side];
    await writer.pause();
    try {
      if (side === 'pg') await this.c.pg.restart('immediate');
      else await this.c.maria.restart('kill');
      // Pooled connections died with the server: let the pool find out before writes resume.
      const db = side === 'pg' ? this.c.pgDb : this.c.mariaDb;
      await waitFor(`${side} to answer after its restart`, async () => {
        for (let i = 0; i < 8; i++) await db.query('SELECT 1');
        return true;
      }, 60_000, 100);
    } finally {
      writer.resume();
    }
  }

  /** A message that is not in the Confluent wire format at all, on the clients topic. */
  private async poison(): Promise<void> {
    const kafka = new Kafka({ brokers: this.c.kafka.brokers, logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    try {
      const topic = this.c.topics.pgClients;
      const [meta] = await producer.send({ topic, acks: -1, messages: [{ partition: 0, key: Buffer.from('poison'), value: Buffer.from('this is not an Avro change event') }] });
      this.injected.push({ kind: 'poison', topic, partition: meta!.partition, offset: meta!.baseOffset ?? '' });
    } finally {
      await producer.disconnect();
    }
  }

  /**
   * A value MariaDB cannot hold: a reserved row is inserted in PostgreSQL and waited for in
   * MariaDB; then its note is set to 60 characters (MariaDB's column holds 20), which must be
   * dead-lettered; then the note is set to a value that fits, which must arrive — so the
   * row ends equal on both sides and the dead-letter topic holds exactly the bad update.
   */
  private async overflow(): Promise<void> {
    const id = FAULT_ID_BASE + ++this.overflowRows;
    const pg = this.c.pgDb;
    const row = { id, name: `fault-${id}`, email: `f${id}@example.org`, note: 'short', phone: '+1 555', city: 'Bern', amount: '1.00' };
    const cols = Object.keys(row);
    await pg.execute(`INSERT INTO clients (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, Object.values(row));
    await waitFor(`overflow row ${id} to reach MariaDB`, async () => (await this.c.mariaDb.query('SELECT id FROM clients WHERE id = ?', [id])).length === 1, 120_000, 200);
    await pg.execute('UPDATE clients SET note = $1 WHERE id = $2', ['x'.repeat(60), id]);
    this.injected.push({ kind: 'overflow', topic: this.c.topics.pgClients, rowId: id });
    // The fix is written only once the bad update is dead-lettered: written at once, both
    // could land in one applier batch, where the newer note supersedes the bad one before it
    // ever reaches MariaDB (correct last-writer-wins, but then nothing was injected).
    // (Every bad message injected so far must be there: count at least as many dead letters.)
    await waitFor('the overflowing update to be dead-lettered', async () => (await topicMessages(this.c, this.c.deadLetterTopic)) >= this.injected.length, 300_000, 250);
    await pg.execute('UPDATE clients SET note = $1 WHERE id = $2', [`fixed-${id}`, id]);
    this.model.clients.set(id, { ...row, note: `fixed-${id}` });
    this.model.writes.pg.clients += 3;
  }
}
