import 'reflect-metadata';
import { DataSource, type EntityManager } from 'typeorm';
import { typeOrmOptions } from '../../src/common/database/typeorm-options';
import { toProblem } from '../../src/common/errors/problem';
import { eventually } from './support/http';

/**
 * A transaction that loses its connection while it waits on something else (signup waits on
 * Redis inside its transaction) must be answered as an outage, 503, not as a bug, 500. The
 * resilience suite's PostgreSQL outage caught this as a rare 500; here it is made to happen on
 * purpose against the real database: the backend of an open transaction is terminated between
 * two of its statements.
 */
describe('a transaction whose connection PostgreSQL drops', () => {
  let dataSource: DataSource;

  beforeAll(async () => {
    dataSource = new DataSource(typeOrmOptions(process.env.DATABASE_URL!, 3));
    await dataSource.initialize();
  });

  afterAll(() => dataSource?.destroy());

  async function failNextStatement(next: (m: EntityManager) => Promise<unknown>): Promise<unknown> {
    try {
      await dataSource.transaction(async (m) => {
        const [backend] = await m.query<{ pid: number }[]>('SELECT pg_backend_pid() AS pid');
        await dataSource.query('SELECT pg_terminate_backend($1)', [backend!.pid]);
        // TypeORM releases the query runner when the pg client reports the lost connection.
        await eventually(() => m.queryRunner!.isReleased, 5000, 5);
        await next(m);
      });
    } catch (error) {
      return error;
    }
    throw new Error('the transaction did not fail');
  }

  it.each([
    ['a raw query', (m: EntityManager) => m.query('SELECT 1')],
    ['a query through the runner', (m: EntityManager) => m.queryRunner!.query('SELECT 1')],
    ['its COMMIT', () => Promise.resolve()],
  ])('answers 503 dependency_unavailable when its next statement is %s', async (_name, next) => {
    const error = await failNextStatement(next);

    const problem = toProblem(error, { url: '/api/v1/auth/verifications', headers: {} });
    expect({ status: problem.body.status, code: problem.body.code, unexpected: problem.unexpected }).toEqual({
      status: 503,
      code: 'dependency_unavailable',
      unexpected: false,
    });
  });

  it('leaves the pool usable afterwards', async () => {
    await failNextStatement((m) => m.query('SELECT 1'));
    await expect(dataSource.query('SELECT 1 AS one')).resolves.toEqual([{ one: 1 }]);
  });
});
