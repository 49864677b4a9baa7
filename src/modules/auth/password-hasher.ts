import { hash, verify, type Options } from '@node-rs/argon2';
import { Injectable, OnModuleInit } from '@nestjs/common';

/**
 * argon2id with OWASP's current minimum (m = 19 MiB, t = 2, p = 1). `@node-rs/argon2`'s async
 * API runs on the libuv thread pool, so hashing never blocks the event loop.
 */
const OPTIONS: Options = {
  // `Algorithm` is an ambient const enum, which isolatedModules cannot inline: 2 is Argon2id.
  algorithm: 2,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
};

@Injectable()
export class PasswordHasher implements OnModuleInit {
  /**
   * Verified when the email is unknown, so login costs the same whether or not the account
   * exists. Made with the real parameters at start-up (never a hard-coded hash that could drift).
   */
  private dummyHash = '';

  async onModuleInit(): Promise<void> {
    this.dummyHash = await hash('dummy-password-for-timing-equalization', OPTIONS);
  }

  hash(password: string): Promise<string> {
    return hash(password, OPTIONS);
  }

  async verify(passwordHash: string, password: string): Promise<boolean> {
    try {
      return await verify(passwordHash, password);
    } catch {
      return false; // a malformed stored hash never authenticates
    }
  }

  /** Same cost as {@link verify}; always false. */
  async verifyDummy(password: string): Promise<false> {
    await this.verify(this.dummyHash, password);
    return false;
  }
}
