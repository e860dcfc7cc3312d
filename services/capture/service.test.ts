import { describe, expect, it } from 'vitest';
import { OutboxSource } from '../../lib/capture/outbox-source.js';
import { parseConfig } from '../../lib/config/load.js';
import { SqlServerCdcSource } from '../../lib/dialect/mssql/cdc-source.js';
import { createSource, startCaptureService } from './service.js';

const base = {
  kafka: { brokers: ['127.0.0.1:1'] },
  registry: { url: 'http://127.0.0.1:1/apis/ccompat/v7' },
  databases: {
    billing: { dialect: 'mssql', url: 'mssql://sa:x@127.0.0.1:1/billing' },
    invoice: { dialect: 'mysql', url: 'mysql://root@127.0.0.1:1/invoice' },
  },
  http: { host: '127.0.0.1', port: 0 },
};

describe('capture service wiring', () => {
  it('builds the SQL Server CDC source for mode cdc and the outbox source for mode outbox', async () => {
    const cfg = parseConfig({ ...base, capture: [
      { source: 'billing', mode: 'cdc', tables: [{ name: 'dbo.clients' }] },
      { source: 'invoice', mode: 'outbox', tables: [{ name: 'clients' }] },
    ] });
    expect(await createSource(cfg, cfg.capture[0]!)).toBeInstanceOf(SqlServerCdcSource);
    expect(await createSource(cfg, cfg.capture[1]!)).toBeInstanceOf(OutboxSource);
  });

  it('rejects two capture entries for the same source (they would race on one checkpoint)', async () => {
    const cfg = parseConfig({ ...base, capture: [
      { source: 'invoice', mode: 'outbox', tables: [{ name: 'a' }] },
      { source: 'invoice', mode: 'outbox', tables: [{ name: 'b' }] },
    ] });
    await expect(startCaptureService(cfg, { handleSignals: false, onStopped: () => undefined })).rejects.toThrow(/capture\[1\]\.source: "invoice" is captured by two entries/);
  });

  it('rejects a config without capture entries', async () => {
    const cfg = parseConfig({ ...base });
    await expect(startCaptureService(cfg, { handleSignals: false, onStopped: () => undefined })).rejects.toThrow(/no capture entries/);
  });
});
