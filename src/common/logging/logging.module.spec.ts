import { QueryFailedError } from 'typeorm';
import { createRootLogger } from './logging.module';

/** The root logger's lines, as written. */
function capture(): { logger: ReturnType<typeof createRootLogger>; lines: () => Record<string, unknown>[]; text: () => string } {
  const written: string[] = [];
  const logger = createRootLogger('info', { write: (line: string) => written.push(line) });
  return {
    logger,
    lines: () => written.map((line) => JSON.parse(line) as Record<string, unknown>),
    text: () => written.join(''),
  };
}

/** What node-postgres rejects a unique violation with. */
function uniqueViolation(): Error {
  return Object.assign(new Error('duplicate key value violates unique constraint "uq_users_email"'), {
    code: '23505',
    detail: 'Key (email)=(alice@example.com) already exists.',
    where: 'SQL statement "INSERT INTO users ... VALUES (\'alice@example.com\')"',
    table: 'users',
    constraint: 'uq_users_email',
  });
}

describe('root logger', () => {
  it("logs a failed statement's text and SQLSTATE, never its values", () => {
    const out = capture();
    const statement = 'INSERT INTO users (username, email, password_hash) VALUES ($1, $2, $3)';
    const error = new QueryFailedError(
      statement,
      ['alice', 'alice@example.com', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA'],
      uniqueViolation(),
    );
    out.logger.error({ err: error, code: 'internal_error', request_id: 'r-1' }, 'unexpected error');
    expect(out.text()).not.toMatch(/alice@example\.com|argon2id/);
    const [line] = out.lines();
    expect(line).toMatchObject({
      msg: 'unexpected error',
      code: 'internal_error',
      request_id: 'r-1',
      err: {
        type: 'QueryFailedError',
        query: statement,
        code: '23505',
        constraint: 'uq_users_email',
        table: 'users',
        driverError: { code: '23505', constraint: 'uq_users_email' },
      },
    });
    const err = line!.err as Record<string, unknown>;
    expect(Object.keys(err)).not.toEqual(expect.arrayContaining(['parameters']));
    expect(err).not.toHaveProperty('detail');
    expect(err).not.toHaveProperty('where');
    expect(err.driverError).not.toHaveProperty('detail');
  });

  it('keeps error codes readable (a dependency outage)', () => {
    const out = capture();
    const error = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    out.logger.warn({ err: error, code: 'dependency_unavailable' }, 'dependency failure');
    expect(out.lines()[0]).toMatchObject({ code: 'dependency_unavailable', err: { code: 'ECONNREFUSED', message: error.message } });
  });

  it('leaves the error it logs as it was', () => {
    const out = capture();
    const error = new QueryFailedError('SELECT 1 WHERE $1', ['x'], uniqueViolation());
    out.logger.error({ err: error }, 'failed');
    expect(error.parameters).toEqual(['x']);
    expect((error as unknown as { detail: string }).detail).toMatch(/alice@example\.com/);
  });

  it('still redacts credentials and tokens, wherever they sit', () => {
    const out = capture();
    out.logger.info(
      { password: 'hunter22', body: { token: '123456', refresh_token: 'rt' }, req: { headers: { authorization: 'Bearer x' } } },
      'x',
    );
    expect(out.text()).not.toMatch(/hunter22|123456|"rt"|Bearer x/);
    expect(out.lines()[0]).toMatchObject({ password: '[redacted]', body: { token: '[redacted]', refresh_token: '[redacted]' } });
  });
});
