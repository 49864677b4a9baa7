import { simpleParser } from 'mailparser';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';

export interface ReceivedMail {
  readonly to: string[];
  readonly from: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  readonly receivedAt: number;
}

type Rejection = { readonly code: number; readonly message: string };

/**
 * A real SMTP server in the test process (port 0), collecting what the app sends. Point the app
 * at it with `createTestApp({ SMTP_URL: mailbox.smtpUrl })`.
 */
export class Mailbox {
  readonly messages: ReceivedMail[] = [];
  private readonly rejections = new Map<string, Rejection[]>();
  private server: SMTPServer | undefined;
  private port = 0;

  get smtpUrl(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onRcptTo: (address: SMTPServerAddress, _session: SMTPServerSession, callback: (err?: Error | null) => void) => {
        const queue = this.rejections.get(address.address.toLowerCase());
        const next = queue?.shift();
        if (next) return callback(Object.assign(new Error(next.message), { responseCode: next.code }));
        callback();
      },
      onData: (stream, session, callback) => {
        simpleParser(stream)
          .then((parsed) => {
            this.messages.push({
              to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              html: typeof parsed.html === 'string' ? parsed.html : '',
              receivedAt: Date.now(),
            });
            callback();
          })
          .catch((error: Error) => callback(error));
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The next `times` deliveries to `address` are refused with `code` (e.g. 451: transient, 550: permanent). */
  rejectNext(address: string, code: number, times = 1): void {
    const queue = this.rejections.get(address.toLowerCase()) ?? [];
    for (let i = 0; i < times; i++) queue.push({ code, message: code >= 500 ? 'Mailbox unavailable' : 'Try again later' });
    this.rejections.set(address.toLowerCase(), queue);
  }

  /** Every mail to `address` received so far, oldest first. */
  mailsTo(address: string): ReceivedMail[] {
    return this.messages.filter((m) => m.to.includes(address.toLowerCase()));
  }

  /** Polls until a mail to `address` matching `predicate` arrives (deadline, no fixed sleeps). */
  async waitForMail(address: string, predicate: (mail: ReceivedMail) => boolean = () => true, timeoutMs = 10_000): Promise<ReceivedMail> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.mailsTo(address).find(predicate);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`no matching mail to ${address} within ${timeoutMs} ms (got ${this.mailsTo(address).length})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Waits for the `n`-th mail (1-based) to `address`. */
  waitForNth(address: string, n: number, timeoutMs?: number): Promise<ReceivedMail> {
    return this.waitForMail(address, (m) => this.mailsTo(address).indexOf(m) === n - 1, timeoutMs);
  }
}

export async function startMailbox(): Promise<Mailbox> {
  return new Mailbox().start();
}

/** The standalone 6-digit code of a mail's text (the contract: it stands alone on its line). */
export function extractCode(text: string): string {
  const matches = [...text.matchAll(/(?<![0-9A-Za-z_])[0-9]{6}(?![0-9A-Za-z_])/g)].map((m) => m[0]);
  const unique = [...new Set(matches)];
  if (unique.length !== 1) throw new Error(`expected exactly one standalone 6-digit code, found ${unique.length}: ${text}`);
  return unique[0]!;
}
