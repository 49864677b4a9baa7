/**
 * Runs `pass` every `intervalMs` on this replica, never two passes at once (a tick that finds the
 * previous pass still running is skipped), and never keeps the process alive by itself. A failing
 * pass goes to `onError` and the next tick tries again. `stop()` clears the timer and waits for a
 * pass in flight, for shutdown hooks.
 */
export class PeriodicTask {
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> | undefined;

  constructor(pass: () => Promise<unknown>, intervalMs: number, onError: (error: unknown) => void) {
    this.timer = setInterval(() => {
      this.running ??= pass()
        .then(() => undefined, onError)
        .finally(() => (this.running = undefined));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
