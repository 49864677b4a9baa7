import { preparedStatement, runPrepared, type Queryable } from './prepared-statement';

describe('preparedStatement', () => {
  it('names a statement after its text: the same text the same name, another text another name', () => {
    const a = preparedStatement('SELECT 1 WHERE $1::int > 0');
    expect(a).toEqual({ name: expect.stringMatching(/^rt_[0-9a-f]{32}$/), text: 'SELECT 1 WHERE $1::int > 0' });
    expect(preparedStatement('SELECT 1 WHERE $1::int > 0').name).toBe(a.name);
    expect(preparedStatement('SELECT 2 WHERE $1::int > 0').name).not.toBe(a.name);
  });

  it('runs through query() as a fresh node-postgres query config with the parameters', async () => {
    const statement = preparedStatement('SELECT $1::text AS v');
    const calls: [unknown, unknown[] | undefined][] = [];
    const on: Queryable = {
      query: <T>(query: string, parameters?: unknown[]) => {
        calls.push([query, parameters]);
        return Promise.resolve([{ v: 'x' }] as T);
      },
    };
    await expect(runPrepared(on, statement, ['x'])).resolves.toEqual([{ v: 'x' }]);
    await runPrepared(on, statement, ['y']);
    expect(calls).toEqual([
      [{ name: statement.name, text: statement.text }, ['x']],
      [{ name: statement.name, text: statement.text }, ['y']],
    ]);
    expect(calls[0]![0]).not.toBe(calls[1]![0]); // node-postgres writes into the config it is given
    expect(Object.isFrozen(statement)).toBe(true);
  });
});
