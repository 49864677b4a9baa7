import Fastify from 'fastify';
import Redis from 'ioredis';
import { Pool } from 'pg';

/**
 * The baseline: bare Fastify (the same version Nest runs on) answering {"status":"ok"}, no
 * logging, no hooks. Every scenario's rate is printed as a ratio to this one, measured in the
 * same run on the same machine with the same load generator.
 *
 * With FLOOR_DATABASE_URL and FLOOR_REDIS_URL it also serves `GET /floor/users/:username`: the I/O
 * of our profile routes and nothing else (one auto-pipelined Redis command, as the revocation
 * check; one indexed PostgreSQL read of the same row, on the bench database). Its rate is what a
 * hand-written route can reach on this machine with that I/O: the floor our routes are read against.
 */
const app = Fastify({ logger: false });
app.get('/health', () => ({ status: 'ok' }));

const { FLOOR_DATABASE_URL, FLOOR_REDIS_URL, FLOOR_REDIS_PREFIX = '' } = process.env;
let close = (): Promise<unknown> => Promise.resolve();
if (FLOOR_DATABASE_URL && FLOOR_REDIS_URL) {
  const redis = new Redis(FLOOR_REDIS_URL, { enableAutoPipelining: true, keyPrefix: FLOOR_REDIS_PREFIX });
  const pool = new Pool({ connectionString: FLOOR_DATABASE_URL, max: 20 });
  app.get<{ Params: { username: string } }>('/floor/users/:username', async (request, reply) => {
    await redis.exists(`floor:${request.params.username}`);
    // A named statement, as the API's profile reads are (prepared once per connection).
    const { rows } = await pool.query({
      name: 'floor-user',
      text: 'SELECT id, username, avatar_url, bio FROM users WHERE lower(username) = lower($1)',
      values: [request.params.username],
    });
    return rows[0] ?? reply.code(404).send({ status: 'not found' });
  });
  close = () => Promise.all([pool.end(), redis.quit()]);
}

app.listen({ port: Number(process.argv[2] ?? 0), host: '127.0.0.1' }).catch((error: unknown) => {
  process.stderr.write(`baseline failed to start: ${String(error)}\n`);
  process.exit(1);
});
process.once(
  'SIGTERM',
  () =>
    void app
      .close()
      .then(close)
      .then(() => process.exit(0)),
);
