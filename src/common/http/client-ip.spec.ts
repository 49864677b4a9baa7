import { clientIp, trustImmediatePeer } from './client-ip';

const requestFrom = (ip: string, peer: string | undefined) =>
  ({ ip, raw: { socket: { remoteAddress: peer } } }) as Parameters<typeof clientIp>[0];

describe('clientIp', () => {
  it.each(['203.0.113.9', '2001:db8::1', '::ffff:10.0.0.1'])('takes a forwarded IP as it is: %p', (ip) => {
    expect(clientIp(requestFrom(ip, '10.1.2.3'))).toBe(ip);
  });

  it.each(['unknown', 'x'.repeat(100), '999.999.999.999', '1.2.3.4:80', `fe80::1%${'z'.repeat(100)}`, ''])(
    'falls back to the peer address for %p',
    (ip) => {
      expect(clientIp(requestFrom(ip, '10.1.2.3'))).toBe('10.1.2.3');
    },
  );

  it('takes the peer address as it is (a link-local peer keeps its zone)', () => {
    expect(clientIp(requestFrom('fe80::1%eth0', 'fe80::1%eth0'))).toBe('fe80::1%eth0');
  });

  it('says unknown when the socket is gone and the forwarded value is no IP', () => {
    expect(clientIp(requestFrom('garbage', undefined))).toBe('unknown');
  });
});

describe('trustImmediatePeer', () => {
  it('trusts the peer (hop 0) and no hop behind it', () => {
    expect([0, 1, 2].map((hop) => trustImmediatePeer('10.0.0.1', hop))).toEqual([true, false, false]);
  });
});
