import type { FastifyRequest } from 'fastify';
import { isIP } from 'node:net';

/**
 * Fastify's `trustProxy` for TRUST_PROXY=true: "behind one ingress". Only the immediate peer (hop
 * 0, the ingress) is trusted, so `request.ip` is the address it appended, the rightmost
 * X-Forwarded-For entry; what the client itself put in the header (everything left of it) is
 * ignored. `trustProxy: true` would trust every hop and give the leftmost entry, which the client
 * chooses. A hop count cannot be used instead: Fastify 5.12 ignores numbers (fails closed, see
 * getTrustProxyFn in fastify/lib/request.js).
 */
export function trustImmediatePeer(_address: string, hop: number): boolean {
  return hop === 0;
}

/**
 * The client's IP as the app uses it (rate-limit trackers, sessions): `request.ip`, unless that is
 * not an IP address (a proxy that forwards garbage, or a client talking to the app directly with
 * TRUST_PROXY=true), in which case the peer's address. Zone ids (`fe80::1%eth0`) are refused too:
 * a forwarded one is meaningless and unbounded in length.
 */
export function clientIp(request: Pick<FastifyRequest, 'ip' | 'raw'>): string {
  const ip: unknown = request.ip;
  const peer = request.raw.socket.remoteAddress;
  // Without TRUST_PROXY (or without the header) request.ip is the peer's address: nothing to check.
  if (typeof ip === 'string' && (ip === peer || (isIP(ip) !== 0 && !ip.includes('%')))) return ip;
  return peer ?? 'unknown';
}
