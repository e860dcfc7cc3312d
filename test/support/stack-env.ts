/**
 * Where the local stack listens. Every address can be overridden from the environment,
 * so the same tests run against another broker, registry or database server.
 */
export interface LocalStack {
  kafkaPort: number;
  kafkaBrokers: string[];
  registryPort: number;
  registryUrl: string;
  pgPort: number;
  mysqlPort: number;
  /** Databases the tests use, created by `stack up` in both servers. */
  databases: string[];
  pgAdminUrl: string;
  mysqlAdminUrl: string;
  pgUrl: (db?: string) => string;
  mysqlUrl: (db?: string) => string;
}

const num = (name: string, dflt: number): number => {
  const v = process.env[name];
  return v === undefined || v === '' ? dflt : Number(v);
};

export function localStack(): LocalStack {
  const kafkaPort = num('FIELDSYNC_KAFKA_PORT', 19092);
  const registryPort = num('FIELDSYNC_REGISTRY_PORT', 18081);
  const pgPort = num('FIELDSYNC_PG_PORT', 5432);
  const mysqlPort = num('FIELDSYNC_MYSQL_PORT', 3306);
  const pgUser = process.env.FIELDSYNC_PG_USER ?? 'postgres';
  const mysqlUser = process.env.FIELDSYNC_MYSQL_USER ?? 'root';
  return {
    kafkaPort,
    kafkaBrokers: (process.env.FIELDSYNC_KAFKA_BROKERS ?? `127.0.0.1:${kafkaPort}`).split(','),
    registryPort,
    registryUrl: process.env.FIELDSYNC_REGISTRY_URL ?? `http://127.0.0.1:${registryPort}/apis/ccompat/v7`,
    pgPort,
    mysqlPort,
    databases: ['fieldsync_test', 'fieldsync_test2', 'fieldsync_demo_billing', 'fieldsync_demo_invoice'],
    pgAdminUrl: `postgres://${pgUser}@127.0.0.1:${pgPort}/postgres`,
    mysqlAdminUrl: `mysql://${mysqlUser}@127.0.0.1:${mysqlPort}/`,
    pgUrl: (db = 'fieldsync_test') => `postgres://${pgUser}@127.0.0.1:${pgPort}/${db}`,
    mysqlUrl: (db = 'fieldsync_test') => `mysql://${mysqlUser}@127.0.0.1:${mysqlPort}/${db}`,
  };
}
