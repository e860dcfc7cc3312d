import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { RowBatcher, type StreamingRequest } from './table-reader.js';

/** Emits rows like a streaming mssql Request and records pause/resume. */
class Emitter extends EventEmitter implements StreamingRequest {
  paused = false;
  pauses = 0;
  pause(): boolean { this.paused = true; this.pauses++; return true; }
  resume(): boolean { this.paused = false; return true; }
}

describe('RowBatcher', () => {
  it('hands out batches in order, pausing the stream while more than two batches wait', async () => {
    const req = new Emitter();
    const b = new RowBatcher(req, 3);
    for (let i = 0; i < 7; i++) req.emit('row', [i]);
    expect(req.paused).toBe(true); // 6 rows waiting ≥ 2 batches
    expect(await b.next()).toEqual([[0], [1], [2]]);
    expect(req.paused).toBe(true); // still 4 waiting
    expect(await b.next()).toEqual([[3], [4], [5]]);
    expect(req.paused).toBe(false); // 1 waiting: resumed
    const pending = b.next();
    req.emit('row', [7]);
    req.emit('done');
    expect(await pending).toEqual([[6], [7]]);
    expect(await b.next()).toBeUndefined();
    expect(req.pauses).toBe(1);
  });

  it('waits for rows that are still coming and ends on an empty result', async () => {
    const req = new Emitter();
    const b = new RowBatcher(req, 2);
    const first = b.next();
    req.emit('row', ['a']);
    req.emit('row', ['b']);
    expect(await first).toEqual([['a'], ['b']]);
    req.emit('done');
    expect(await b.next()).toBeUndefined();
  });

  it('surfaces a stream error instead of ending early', async () => {
    const req = new Emitter();
    const b = new RowBatcher(req, 10);
    req.emit('row', [1]);
    const next = b.next();
    req.emit('error', new Error('connection lost'));
    req.emit('done');
    await expect(next).rejects.toThrow('connection lost');
  });
});
