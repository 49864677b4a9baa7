import { QueryRunnerAlreadyReleasedError, QueryRunnerProviderAlreadyReleasedError } from 'typeorm';
import { RedisUnavailableError } from '../redis/redis-availability';
import { ReplyError as UntypedReplyError } from 'ioredis';
import { isDependencyOutage } from './problem';

/** ioredis's class for Redis error replies (declared `any` by ioredis). */
const ReplyError = UntypedReplyError as new (message: string) => Error;

describe('isDependencyOutage', () => {
  const withCode = (code: string): Error => Object.assign(new Error('x'), { code });

  it.each([
    ['PostgreSQL shutting down (57P01)', withCode('57P01')],
    ['a refused connection', withCode('ECONNREFUSED')],
    ['a connection that died mid-query', new Error('Connection terminated unexpectedly')],
    ['a transaction whose query runner TypeORM released on connection loss', new QueryRunnerProviderAlreadyReleasedError()],
    ['a query runner released on connection loss', new QueryRunnerAlreadyReleasedError()],
    ['a driver error under TypeORM', Object.assign(new Error('query failed'), { driverError: withCode('08006') })],
    ['a cause chain', new Error('outer', { cause: new Error('Connection is closed.') })],
    ['Redis lost, its client waiting to reconnect', new RedisUnavailableError('Redis connection lost (client reconnecting)')],
    ['a Redis replica after a failover', new ReplyError("READONLY You can't write against a read only replica.")],
    ['a Redis out of memory', new ReplyError("OOM command not allowed when used memory > 'maxmemory'.")],
    ['a Redis loading its data', new ReplyError('LOADING Redis is loading the dataset in memory')],
  ])('recognizes %s', (_name, error) => {
    expect(isDependencyOutage(error)).toBe(true);
  });

  it.each([
    ['a unique violation', withCode('23505')],
    ['a plain bug', new TypeError('cannot read properties of undefined')],
    ['a non-error', 'Connection terminated'],
    ['a Redis reply refusing the command itself', new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value')],
  ])('does not take %s for an outage', (_name, error) => {
    expect(isDependencyOutage(error)).toBe(false);
  });
});
