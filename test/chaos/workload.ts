/**
 * The chaos suite's steady change stream and the model that says what the end state must be.
 *
 * Two tables:
 *   clients   two-way (PostgreSQL ⇄ MariaDB). Each side inserts rows in its own key range
 *             and owns some columns of every row: the creating side owns name, email and
 *             note, the other side owns phone, city and amount. So each field has exactly
 *             one writer, and its expected final value is simply that writer's last write —
 *             no clock ties to argue about, yet every row is edited on both sides and
 *             every change crosses in both directions.
 *   accounts  one-way PostgreSQL → MariaDB, refreshed by the reconciler during the run.
 *
 * Rows are deleted only by their creating side and ids are never reused, so a deleted row
 * must be absent on both sides. An update of the other side's columns is recorded only when
 * it touched a row (affected rows = 1); an update that raced with a delete leaves the row
 * absent, which the model expects anyway.
 *
 * The writers are ordinary application sessions (not applier sessions), so capture sees
 * them through the outbox triggers and the targets' local-edit triggers stamp them. A writer
 * can be paused (the fault injector pauses it around a restart of its own database, so
 * that no write has an unknown outcome — the services' resilience is under test, not the
 * writer's).
 */
import type { Db } from '../../lib/dialect/dialect.js';

export type Side = 'pg' | 'maria';
export const CREATOR_COLUMNS = ['name', 'email', 'note'] as const;
export const OTHER_COLUMNS = ['phone', 'city', 'amount'] as const;
export const CLIENT_COLUMNS = ['id', ...CREATOR_COLUMNS, ...OTHER_COLUMNS] as const;
export const ACCOUNT_COLUMNS = ['id', 'owner', 'balance', 'opened_at'] as const;

/** Key ranges: each side inserts its own ids. */
export const ID_BASE: Record<Side, number> = { pg: 1, maria: 50_000_000 };
/** Ids reserved for injected faults (overflow rows). */
export const FAULT_ID_BASE = 90_000_000;

export function clientsDdl(side: Side, table = 'clients'): string {
  // MariaDB's note is narrower than PostgreSQL's: a long note written in PostgreSQL cannot be
  // held by MariaDB (the "value the target cannot hold" fault).
  return side === 'pg'
    ? `CREATE TABLE "${table}" (id bigint PRIMARY KEY, name varchar(100), email varchar(200), note text, phone varchar(40), city varchar(100), amount numeric(14,2))`
    : `CREATE TABLE \`${table}\` (id BIGINT PRIMARY KEY, name VARCHAR(100), email VARCHAR(200), note VARCHAR(20), phone VARCHAR(40), city VARCHAR(100), amount DECIMAL(14,2))`;
}

export function accountsDdl(side: Side, table = 'accounts'): string {
  return side === 'pg'
    ? `CREATE TABLE "${table}" (id bigint PRIMARY KEY, owner varchar(100), balance numeric(16,2), opened_at timestamp(6))`
    : `CREATE TABLE \`${table}\` (id BIGINT PRIMARY KEY, owner VARCHAR(100), balance DECIMAL(16,2), opened_at DATETIME(6))`;
}

type Val = string | number | null;
export type ModelRow = Record<string, Val>;

/** What the tables must hold at the end. */
export class Model {
  readonly clients = new Map<number, ModelRow>();
  readonly deletedClients = new Set<number>();
  readonly accounts = new Map<number, ModelRow>();
  /** Changes written per side and table (each one must be captured once, or more with duplicates). */
  readonly writes: Record<Side, { clients: number; accounts: number }> = { pg: { clients: 0, accounts: 0 }, maria: { clients: 0, accounts: 0 } };
}

/** A seeded PRNG (mulberry32): the same seed gives the same run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function placeholders(db: Db, n: number, from = 1): string {
  return Array.from({ length: n }, (_, i) => db.dialect.param(from + i)).join(', ');
}

export class Writer {
  private seq = 0;
  private nextId: number;
  private paused = false;
  private inFlight: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly random: () => number;
  private readonly mine: number[] = [];
  errors = 0;
  lastError = '';

  constructor(readonly side: Side, private readonly db: Db, private readonly model: Model, private readonly other: () => number[], seed: number, private readonly accountsToo: boolean) {
    this.nextId = ID_BASE[side];
    this.random = rng(seed);
  }

  /** Ids this side created and did not delete. */
  createdIds(): number[] {
    return this.mine;
  }

  private q(s: string): string {
    return this.db.dialect.quote(s);
  }

  private async insertClient(): Promise<void> {
    const id = this.nextId++;
    const s = ++this.seq;
    const row: ModelRow = { id, name: `${this.side}-n${s}`, email: `c${id}.${s}@example.org`, note: `n${s}`, phone: `+41 ${s}`, city: 'Basel', amount: `${s % 100000}.25` };
    const cols = CLIENT_COLUMNS as readonly string[];
    await this.db.execute(`INSERT INTO ${this.q('clients')} (${cols.map((c) => this.q(c)).join(', ')}) VALUES (${placeholders(this.db, cols.length)})`, cols.map((c) => row[c]));
    this.model.clients.set(id, row);
    this.model.writes[this.side].clients++;
    this.mine.push(id);
  }

  private async updateClient(id: number, columns: readonly string[]): Promise<boolean> {
    const s = ++this.seq;
    const col = columns[Math.floor(this.random() * columns.length)]!;
    const value: Val = col === 'amount' ? `${(s * 7) % 1000000}.${String(s % 100).padStart(2, '0')}` : col === 'note' ? `${this.side[0]}${s}` : `${this.side}-${col}-${s}`;
    const n = await this.db.execute(`UPDATE ${this.q('clients')} SET ${this.q(col)} = ${this.db.dialect.param(1)} WHERE id = ${this.db.dialect.param(2)}`, [value, id]);
    if (n !== 1) return false;
    const row = this.model.clients.get(id);
    if (row) row[col] = value;
    this.model.writes[this.side].clients++;
    return true;
  }

  private async deleteClient(): Promise<void> {
    if (this.mine.length < 20) return;
    const i = Math.floor(this.random() * this.mine.length);
    const id = this.mine[i]!;
    await this.db.execute(`DELETE FROM ${this.q('clients')} WHERE id = ${this.db.dialect.param(1)}`, [id]);
    this.mine.splice(i, 1);
    this.model.clients.delete(id);
    this.model.deletedClients.add(id);
    this.model.writes[this.side].clients++;
  }

  private async writeAccount(): Promise<void> {
    const s = ++this.seq;
    const existing = this.model.accounts.size;
    const update = existing > 50 && this.random() < 0.6;
    const id = update ? 1 + Math.floor(this.random() * existing) : existing + 1;
    const row: ModelRow = { id, owner: `owner-${id}-${s}`, balance: `${s}.${String(s % 100).padStart(2, '0')}`, opened_at: '2024-05-06 07:08:09.123456' };
    if (update) {
      await this.db.execute(`UPDATE ${this.q('accounts')} SET ${this.q('balance')} = ${this.db.dialect.param(1)} WHERE id = ${this.db.dialect.param(2)}`, [row.balance, id]);
      this.model.accounts.get(id)!.balance = row.balance!;
    } else {
      const cols = ACCOUNT_COLUMNS as readonly string[];
      await this.db.execute(`INSERT INTO ${this.q('accounts')} (${cols.map((c) => this.q(c)).join(', ')}) VALUES (${placeholders(this.db, cols.length)})`, cols.map((c) => row[c]));
      this.model.accounts.set(id, row);
    }
    this.model.writes[this.side].accounts++;
  }

  /** One change: mostly updates, some inserts, a few deletes, and the other side's rows too. */
  async step(): Promise<void> {
    const r = this.random();
    if (this.accountsToo && r < 0.2) return this.writeAccount();
    if (this.mine.length < 10 || r < 0.35) return this.insertClient();
    if (r < 0.38) return this.deleteClient();
    const others = this.other();
    if (r < 0.65 && others.length > 0) {
      const id = others[Math.floor(this.random() * others.length)]!;
      await this.updateClient(id, OTHER_COLUMNS);
      return;
    }
    await this.updateClient(this.mine[Math.floor(this.random() * this.mine.length)]!, CREATOR_COLUMNS);
  }

  /** Write about `perSecond` changes per second until stop(); each change is awaited. */
  start(perSecond: number): void {
    const tickMs = 50;
    const perTick = Math.max(1, Math.round((perSecond * tickMs) / 1000));
    const tick = () => {
      if (this.paused) { this.timer = setTimeout(tick, tickMs); return; }
      const started = Date.now();
      this.inFlight = (async () => {
        for (let i = 0; i < perTick && !this.paused; i++) await this.step();
      })().catch((e: unknown) => {
        // A failed write is not retried blindly (its outcome could be unknown); it is counted
        // and the run fails unless it was a constraint the workload can ignore.
        this.errors++;
        this.lastError = e instanceof Error ? e.message : String(e);
      }).finally(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, Math.max(0, tickMs - (Date.now() - started)));
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  async pause(): Promise<void> {
    this.paused = true;
    await this.inFlight;
  }

  resume(): void {
    this.paused = false;
  }

  async stop(): Promise<void> {
    const t = this.timer;
    this.timer = undefined;
    if (t) clearTimeout(t);
    this.paused = true;
    await this.inFlight;
  }
}
