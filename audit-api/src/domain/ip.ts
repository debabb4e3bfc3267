// Client addresses are stored only as keyed hashes: enough to tell requests from one address apart, not to recover it.
import { createHmac } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

/** HMAC-SHA256 (hex) of the normalised address. */
export function hashIp(key: string | Buffer, ip: string): string {
  // A plain hash of an IPv4 address is reversed by hashing all 2^32 of them, so the hash is keyed.
  return createHmac('sha256', key).update(normaliseIp(ip)).digest('hex');
}

/** One spelling per address: "::ffff:10.0.0.1" is 10.0.0.1, and IPv6 takes its RFC 5952 form, lower case. */
export function normaliseIp(ip: string): string {
  let address = ip.trim().toLowerCase();
  if (address.startsWith('::ffff:') && isIPv4(address.slice(7))) return address.slice(7);
  // The URL parser prints IPv6 canonically (zeros compressed, no leading zeros); proxies' headers may
  // not. It refuses zone ids (fe80::1%eth0), which are left as they are.
  if (isIPv6(address) && !address.includes('%')) {
    address = new URL(`http://[${address}]/`).hostname.slice(1, -1);
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(address);
    if (mapped) {
      const n = (parseInt(mapped[1]!, 16) << 16) | parseInt(mapped[2]!, 16);
      return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
    }
  }
  return address;
}
