// Deny entries (`!host[:port]`) of the http tasks' host allow-list: they refuse what they match,
// whatever allow entry matches too and wherever they stand in the list.
import { describe, expect, it } from 'vitest';
import { isHostAllowed, parseAllowedHosts } from '../../shared/tasks/host-allow-list.js';

const allowed = (url: string, hosts: string[]) => isHostAllowed(new URL(url), hosts);

describe('isHostAllowed: deny entries', () => {
  it('denies a host:port that an allow entry admits, before or after it in the list', () => {
    expect(allowed('http://localhost:8000/', ['localhost', '!localhost:8000'])).toBe(false);
    expect(allowed('http://localhost:8000/', ['!localhost:8000', 'localhost'])).toBe(false);
    expect(allowed('http://localhost:8000/', ['localhost:8000', '!localhost:8000'])).toBe(false);
    expect(allowed('http://localhost:8001/', ['localhost', '!localhost:8000'])).toBe(true);
    expect(allowed('http://127.0.0.1:8000/', ['localhost', '127.0.0.1', '!localhost:8000'])).toBe(true);
  });

  it('denies every port of a host given without a port, default ports included', () => {
    const list = ['0.0.0.0', 'localhost', '!0.0.0.0'];
    expect(allowed('http://0.0.0.0/', list)).toBe(false);
    expect(allowed('http://0.0.0.0:9000/', list)).toBe(false);
    expect(allowed('https://0.0.0.0/', list)).toBe(false);
    expect(allowed('http://localhost:9000/', list)).toBe(true);
    expect(allowed('http://localhost/', ['localhost', '!localhost:80'])).toBe(false);
    expect(allowed('https://localhost/', ['localhost', '!localhost:443'])).toBe(false);
    expect(allowed('https://localhost/', ['localhost', '!localhost:80'])).toBe(true);
  });

  it('matches deny entries as it matches allow entries: case, trailing dot, canonical IP forms, patterns', () => {
    const list = ['localhost', '127.0.0.1', '[::1]', '*.example.com', '!LOCALHOST.:8000', '!127.1:8000', '![0:0:0:0:0:0:0:1]:8000', '!*.internal.example.com'];
    expect(allowed('http://localhost:8000/', list)).toBe(false);
    expect(allowed('http://LocalHost.:8000/', list)).toBe(false);
    expect(allowed('http://127.0.0.1:8000/', list)).toBe(false);
    expect(allowed('http://0x7f.0.0.1:8000/', list)).toBe(false);
    expect(allowed('http://2130706433:8000/', list)).toBe(false);
    expect(allowed('http://[::1]:8000/', list)).toBe(false);
    expect(allowed('http://[0::1]:8000/', list)).toBe(false);
    expect(allowed('http://[::1]:8001/', list)).toBe(true);
    expect(allowed('https://db.internal.example.com/', list)).toBe(false);
    expect(allowed('https://a.b.internal.example.com/', list)).toBe(false);
    expect(allowed('https://internal.example.com/', list)).toBe(true);
    expect(allowed('https://api.example.com/', list)).toBe(true);
  });

  it('denies IPv4-mapped IPv6 forms of a denied address when written that way', () => {
    const list = ['[::ffff:127.0.0.1]', '![::ffff:127.0.0.1]:8000'];
    expect(allowed('http://[::ffff:7f00:1]:8000/', list)).toBe(false);
    expect(allowed('http://[::ffff:127.0.0.1]:8000/', list)).toBe(false);
    expect(allowed('http://[::ffff:127.0.0.1]:8001/', list)).toBe(true);
  });

  it('allows nothing with deny entries alone', () => {
    expect(allowed('http://localhost:8001/', ['!localhost:8000'])).toBe(false);
    expect(allowed('https://api.example.com/', ['!evil.example.com'])).toBe(false);
  });

  it('accepts spaces around the ! and ignores deny entries it cannot read', () => {
    expect(allowed('http://localhost:8000/', ['localhost', ' ! localhost:8000 '])).toBe(false);
    expect(allowed('http://localhost:8000/', ['localhost', '!', '!!localhost', '!localhost:99999', '!http://localhost'])).toBe(true);
    // A lone `!` is not an allow entry either.
    expect(allowed('http://localhost/', ['!'])).toBe(false);
  });

  it('reads deny entries from the comma-separated setting', () => {
    const hosts = parseAllowedHosts('localhost, !localhost:8000 ,127.0.0.1');
    expect(hosts).toEqual(['localhost', '!localhost:8000', '127.0.0.1']);
    expect(allowed('http://localhost:8000/', hosts)).toBe(false);
    expect(allowed('http://localhost:8080/', hosts)).toBe(true);
  });
});
