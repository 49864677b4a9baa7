import { simpleParser } from 'mailparser';
import type { AddressInfo, Socket } from 'node:net';
import {
  SMTPServer,
  type SMTPServerAddress,
  type SMTPServerAuthentication,
  type SMTPServerAuthenticationResponse,
  type SMTPServerSession,
} from 'smtp-server';

export interface ReceivedMail {
  readonly to: string[];
  readonly from: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  readonly receivedAt: number;
}

type Rejection = { readonly code: number; readonly message: string };

/** A conversation held open after DATA: see {@link Mailbox.stall}. */
export interface Stall {
  readonly to: string;
  readonly startedAt: number;
  /** When the client's connection closed (the server never closes it). */
  closedAt: number | undefined;
}

export interface MailboxOptions {
  /** Require AUTH (PLAIN/LOGIN, over plain TCP) with these credentials; see {@link Mailbox.acceptPassword}. */
  readonly auth?: { readonly user: string; readonly pass: string };
}

const REPLIES: Record<number, string> = {
  454: 'Temporary authentication failure',
  530: 'Authentication required',
  535: 'Authentication credentials invalid',
};

/**
 * A real SMTP server in the test process (port 0), collecting what the app sends. Point the app
 * at it with `createTestApp({ SMTP_URL: mailbox.smtpUrl })`.
 */
export class Mailbox {
  readonly messages: ReceivedMail[] = [];
  readonly stalls: Stall[] = [];
  private readonly rejections = new Map<string, Rejection[]>();
  private readonly stalled = new Map<string, number>();
  /** Open client connections by remote port, to write to a stalled conversation's socket. */
  private readonly sockets = new Map<number, Socket>();
  private readonly trickles = new Set<NodeJS.Timeout>();
  private server: SMTPServer | undefined;
  private port = 0;
  private password: string | undefined;

  constructor(private readonly options: MailboxOptions = {}) {
    this.password = options.auth?.pass;
  }

  get smtpUrl(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const auth = this.options.auth;
    const server = new SMTPServer({
      authOptional: auth === undefined,
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      disabledCommands: auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
      logger: false,
      closeTimeout: 1000,
      onAuth: (
        login: SMTPServerAuthentication,
        _session: SMTPServerSession,
        callback: (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void,
      ) => {
        if (login.username === auth?.user && login.password === this.password) return callback(null, { user: login.username });
        callback(Object.assign(new Error(REPLIES[535]), { responseCode: 535 }));
      },
      onRcptTo: (address: SMTPServerAddress, _session: SMTPServerSession, callback: (err?: Error | null) => void) => {
        const queue = this.rejections.get(address.address.toLowerCase());
        const next = queue?.shift();
        if (next) return callback(Object.assign(new Error(next.message), { responseCode: next.code }));
        callback();
      },
      onData: (stream, session, callback) => {
        const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
        const stalled = to.find((address) => this.stalled.has(address));
        if (stalled !== undefined) {
          // Never answers: `callback` is not called, the reply only ever continues.
          stream.on('end', () => this.trickle(session, stalled)).resume();
          return;
        }
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
    server.server.on('connection', (socket: Socket) => {
      const port = socket.remotePort;
      if (port === undefined) return;
      this.sockets.set(port, socket);
      socket.once('close', () => this.sockets.delete(port));
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
    for (const timer of this.trickles) clearInterval(timer);
    for (const socket of this.sockets.values()) socket.destroy();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * The next `times` deliveries to `address` are refused at RCPT TO with `code` (e.g. 451:
   * transient, 550: permanent, 530/454: authentication required / temporarily failing).
   */
  rejectNext(address: string, code: number, times = 1): void {
    const queue = this.rejections.get(address.toLowerCase()) ?? [];
    const message = REPLIES[code] ?? (code >= 500 ? 'Mailbox unavailable' : 'Try again later');
    for (let i = 0; i < times; i++) queue.push({ code, message });
    this.rejections.set(address.toLowerCase(), queue);
  }

  /**
   * Mail to `address` is accepted through DATA, then the reply never ends: a `250-` continuation
   * line every `intervalMs`, forever. The socket is never idle, so a client's idle timeout never
   * fires; only an overall deadline ends such a conversation.
   */
  stall(address: string, intervalMs = 300): void {
    this.stalled.set(address.toLowerCase(), intervalMs);
  }

  /** Mail to `address` is answered normally again (conversations already stalled stay so). */
  unstall(address: string): void {
    this.stalled.delete(address.toLowerCase());
  }

  /** Every stalled conversation for `address`, oldest first. */
  stallsTo(address: string): Stall[] {
    return this.stalls.filter((s) => s.to === address.toLowerCase());
  }

  /** From now on AUTH accepts `pass` (and only it): the operator fixed the credentials. */
  acceptPassword(pass: string): void {
    this.password = pass;
  }

  private trickle(session: SMTPServerSession, to: string): void {
    const socket = this.sockets.get(session.remotePort);
    if (!socket) return;
    const stall: Stall = { to, startedAt: Date.now(), closedAt: undefined };
    this.stalls.push(stall);
    const write = (): void => {
      if (socket.writable) socket.write('250-still working on it\r\n');
    };
    write();
    const timer = setInterval(write, this.stalled.get(to) ?? 300);
    this.trickles.add(timer);
    socket.once('close', () => {
      clearInterval(timer);
      this.trickles.delete(timer);
      stall.closedAt = Date.now();
    });
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

export async function startMailbox(options: MailboxOptions = {}): Promise<Mailbox> {
  return new Mailbox(options).start();
}

/** The standalone 6-digit code of a mail's text (the contract: it stands alone on its line). */
export function extractCode(text: string): string {
  const matches = [...text.matchAll(/(?<![0-9A-Za-z_])[0-9]{6}(?![0-9A-Za-z_])/g)].map((m) => m[0]);
  const unique = [...new Set(matches)];
  if (unique.length !== 1) throw new Error(`expected exactly one standalone 6-digit code, found ${unique.length}: ${text}`);
  return unique[0]!;
}
