import { PeriodicTask } from './periodic-task';

describe('PeriodicTask', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('runs a pass per interval, skips ticks while one is running, reports failures and goes on', async () => {
    const finishers: (() => void)[] = [];
    const pass = jest.fn(
      () =>
        new Promise<void>((resolve, reject) =>
          finishers.push(() => (pass.mock.calls.length === 2 ? reject(new Error('boom')) : resolve())),
        ),
    );
    const onError = jest.fn();
    const task = new PeriodicTask(pass, 1000, onError);

    await jest.advanceTimersByTimeAsync(1000);
    expect(pass).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(3000); // the first pass is still running: no second one
    expect(pass).toHaveBeenCalledTimes(1);
    finishers.shift()!();
    await jest.advanceTimersByTimeAsync(1000);
    expect(pass).toHaveBeenCalledTimes(2);
    finishers.shift()!(); // the second pass fails
    await jest.advanceTimersByTimeAsync(0);
    expect(onError).toHaveBeenCalledWith(new Error('boom'));
    await jest.advanceTimersByTimeAsync(1000);
    expect(pass).toHaveBeenCalledTimes(3);

    let stopped = false;
    const stopping = task.stop().then(() => (stopped = true));
    await jest.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false); // waits for the pass in flight
    finishers.shift()!();
    await stopping;
    await jest.advanceTimersByTimeAsync(5000);
    expect(pass).toHaveBeenCalledTimes(3);
  });
});
