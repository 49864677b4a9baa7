import { Injectable } from '@nestjs/common';
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomInt, timingSafeEqual } from 'node:crypto';
import { InjectConfig, type AppConfig } from '../../common/config';
import { secureRandomBytes } from '../../common/random/random-pool';

/**
 * Keys derived from JWT_SECRET with HKDF, one per purpose, so a key never serves two uses and
 * no extra secret has to be configured. Rotating JWT_SECRET invalidates pending codes and the
 * refresh replay window, nothing else.
 */
@Injectable()
export class AuthSecrets {
  private readonly codeKey: Buffer;
  private readonly sealKey: Buffer;
  private readonly mailKey: Buffer;

  constructor(@InjectConfig() config: AppConfig) {
    this.codeKey = derive(config.jwt.secret, 'runtime-api/signup-code-hmac/v1');
    this.sealKey = derive(config.jwt.secret, 'runtime-api/refresh-replay-seal/v1');
    this.mailKey = derive(config.jwt.secret, 'runtime-api/mail-outbox-seal/v1');
  }

  /** A 6-digit code from the CSPRNG, uniform over 000000–999999. */
  newCode(): string {
    return randomInt(0, 1_000_000).toString().padStart(6, '0');
  }

  /** The code's HMAC, bound to its pending signup so a code cannot confirm another signup. */
  codeHmac(pendingId: string, code: string): Buffer {
    return createHmac('sha256', this.codeKey).update(`${pendingId}:${code}`).digest();
  }

  /**
   * A stored value where a code's HMAC goes that no code matches: 256 random bits, the HMAC of
   * nothing. For a pending signup that only holds its username (a signup for a confirmed address).
   */
  unmatchableCodeHmac(): Buffer {
    return secureRandomBytes(32);
  }

  codeMatches(pendingId: string, code: string, stored: Buffer): boolean {
    const candidate = this.codeHmac(pendingId, code);
    return stored.length === candidate.length && timingSafeEqual(stored, candidate);
  }

  /** AES-256-GCM, so the current refresh token can be replayed during the grace window without being stored in clear. */
  seal(plain: string, context: string): string {
    return sealWith(this.sealKey, plain, context);
  }

  unseal(sealed: string, context: string): string {
    return unsealWith(this.sealKey, sealed, context);
  }

  /** AES-256-GCM under a key of its own, so a queued mail's code is not readable from the outbox table. */
  sealMail(plain: string, context: string): string {
    return sealWith(this.mailKey, plain, context);
  }

  /** Throws when the mail was sealed under another key (JWT_SECRET changed) or for another context. */
  unsealMail(sealed: string, context: string): string {
    return unsealWith(this.mailKey, sealed, context);
  }
}

/** base64url(iv ‖ tag ‖ ciphertext); `context` is authenticated, not encrypted: it binds the value to where it is stored. */
function sealWith(key: Buffer, plain: string, context: string): string {
  const iv = secureRandomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context));
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

function unsealWith(key: Buffer, sealed: string, context: string): string {
  const raw = Buffer.from(sealed, 'base64url');
  if (raw.length < 28) throw new Error('sealed value too short');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(context));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
}

/** A new opaque refresh token: 256 random bits, base64url. */
export function newRefreshToken(): string {
  return secureRandomBytes(32).toString('base64url');
}

/** Refresh tokens are stored as SHA-256 (they are high-entropy, so no slow hash is needed). */
export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** A stable, non-reversible Redis key part for an email (keys must not reveal addresses). */
export function emailKey(email: string): string {
  return createHash('sha256').update(email).digest('base64url').slice(0, 32);
}

function derive(secret: string, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), Buffer.from(info), 32));
}
