/** The capture rule builder (exact rules per option) and the flags of `crossmesh capture`. */
import { describe, expect, it } from 'vitest';
import { run } from '../../src/capture/apply.js';
import { captureRules, DEFAULT_CAPTURE, removalRules } from '../../src/capture/iptables.js';
import { captureOptionsOf, runCapture, type CaptureFlags } from '../../src/cli/capture.js';

const FLAGS: CaptureFlags = { proxyUid: '1337', outboundPort: '15001', inboundPort: '15006', excludeInboundPorts: '15000,15021,15090', excludeOutboundPorts: '', excludeOutboundCidrs: '' };

describe('capture rules', () => {
  it('builds the default IPv4 rule set exactly', () => {
    expect(captureRules(DEFAULT_CAPTURE)).toBe(
      [
        '*nat',
        ':CROSSMESH_OUTPUT - [0:0]',
        ':CROSSMESH_INBOUND - [0:0]',
        ':CROSSMESH_REDIRECT - [0:0]',
        ':CROSSMESH_IN_REDIRECT - [0:0]',
        '-A CROSSMESH_REDIRECT -p tcp -j REDIRECT --to-ports 15001',
        '-A CROSSMESH_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006',
        '-A CROSSMESH_INBOUND -p tcp -m tcp --dport 15000 -j RETURN',
        '-A CROSSMESH_INBOUND -p tcp -m tcp --dport 15021 -j RETURN',
        '-A CROSSMESH_INBOUND -p tcp -m tcp --dport 15090 -j RETURN',
        '-A CROSSMESH_INBOUND -p tcp -m tcp --dport 15001 -j RETURN',
        '-A CROSSMESH_INBOUND -p tcp -m tcp --dport 15006 -j RETURN',
        '-A CROSSMESH_INBOUND -p tcp -j CROSSMESH_IN_REDIRECT',
        '-A CROSSMESH_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN',
        '-A CROSSMESH_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --uid-owner 1337 -j CROSSMESH_IN_REDIRECT',
        '-A CROSSMESH_OUTPUT -m owner --uid-owner 1337 -j RETURN',
        '-A CROSSMESH_OUTPUT -d 127.0.0.1/32 -j RETURN',
        '-A CROSSMESH_OUTPUT -j CROSSMESH_REDIRECT',
        '-A OUTPUT -p tcp -j CROSSMESH_OUTPUT',
        '-A PREROUTING -p tcp -j CROSSMESH_INBOUND',
        'COMMIT',
        '*raw',
        ':CROSSMESH_RAW_OUTPUT - [0:0]',
        '-A CROSSMESH_RAW_OUTPUT ! -o lo -m owner --uid-owner 1337 -j CT --zone-orig 1337',
        '-A OUTPUT -p tcp -j CROSSMESH_RAW_OUTPUT',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it('applies the options: uid, ports, exclusions per family, and deletes existing jumps first', () => {
    const o = { proxyUid: 101, outboundPort: 16001, inboundPort: 16006, excludeInboundPorts: [22, 22], excludeOutboundPorts: [3306], excludeOutboundCidrs: ['10.96.0.0/12', 'fd00::/8'] };
    const existing = '-P OUTPUT ACCEPT\n-N CROSSMESH_OUTPUT\n-A OUTPUT -p tcp -j CROSSMESH_OUTPUT\n-A OUTPUT -j KUBE\n';
    const existingRaw = '-P OUTPUT ACCEPT\n-N CROSSMESH_RAW_OUTPUT\n-A OUTPUT -p tcp -j CROSSMESH_RAW_OUTPUT\n';
    const v4 = captureRules(o, 'ipv4', existing, existingRaw).split('\n');
    expect(v4.slice(5, 7)).toEqual(['-D OUTPUT -p tcp -j CROSSMESH_OUTPUT', '-A CROSSMESH_REDIRECT -p tcp -j REDIRECT --to-ports 16001']);
    expect(v4.filter((l) => l.startsWith('-A CROSSMESH_INBOUND'))).toEqual([
      '-A CROSSMESH_INBOUND -p tcp -m tcp --dport 22 -j RETURN',
      '-A CROSSMESH_INBOUND -p tcp -m tcp --dport 16001 -j RETURN',
      '-A CROSSMESH_INBOUND -p tcp -m tcp --dport 16006 -j RETURN',
      '-A CROSSMESH_INBOUND -p tcp -j CROSSMESH_IN_REDIRECT',
    ]);
    expect(v4).toContain('-A CROSSMESH_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --uid-owner 101 -j CROSSMESH_IN_REDIRECT');
    expect(v4).toContain('-A CROSSMESH_OUTPUT -d 10.96.0.0/12 -j RETURN');
    expect(v4).not.toContain('-A CROSSMESH_OUTPUT -d fd00::/8 -j RETURN');
    expect(v4).toContain('-A CROSSMESH_OUTPUT -p tcp -m tcp --dport 3306 -j RETURN');
    expect(v4.slice(v4.indexOf('*raw'))).toEqual(['*raw', ':CROSSMESH_RAW_OUTPUT - [0:0]', '-D OUTPUT -p tcp -j CROSSMESH_RAW_OUTPUT', '-A CROSSMESH_RAW_OUTPUT ! -o lo -m owner --uid-owner 101 -j CT --zone-orig 1337', '-A OUTPUT -p tcp -j CROSSMESH_RAW_OUTPUT', 'COMMIT', '']);
    const v6 = captureRules(o, 'ipv6').split('\n');
    expect(v6).toContain('-A CROSSMESH_OUTPUT -s ::6/128 -o lo -j RETURN');
    expect(v6).toContain('-A CROSSMESH_OUTPUT -d ::1/128 -j RETURN');
    expect(v6).toContain('-A CROSSMESH_OUTPUT -d fd00::/8 -j RETURN');
    expect(v6).not.toContain('-A CROSSMESH_OUTPUT -d 10.96.0.0/12 -j RETURN');
  });

  it('removes only crossmesh chains and jumps, and nothing when there are none', () => {
    const nat = ['-P OUTPUT ACCEPT', '-N CROSSMESH_OUTPUT', '-N KUBE', '-A OUTPUT -p tcp -j CROSSMESH_OUTPUT', '-A OUTPUT -j KUBE', '-A CROSSMESH_OUTPUT -j RETURN', ''].join('\n');
    expect(removalRules(nat)).toBe('*nat\n-D OUTPUT -p tcp -j CROSSMESH_OUTPUT\n-F CROSSMESH_OUTPUT\n-X CROSSMESH_OUTPUT\nCOMMIT\n');
    expect(removalRules('-P OUTPUT ACCEPT\n-N KUBE\n')).toBe('');
    const raw = ['-P OUTPUT ACCEPT', '-N CROSSMESH_RAW_OUTPUT', '-A OUTPUT -p tcp -j CROSSMESH_RAW_OUTPUT', ''].join('\n');
    expect(removalRules(nat, raw)).toBe('*nat\n-D OUTPUT -p tcp -j CROSSMESH_OUTPUT\n-F CROSSMESH_OUTPUT\n-X CROSSMESH_OUTPUT\nCOMMIT\n*raw\n-D OUTPUT -p tcp -j CROSSMESH_RAW_OUTPUT\n-F CROSSMESH_RAW_OUTPUT\n-X CROSSMESH_RAW_OUTPUT\nCOMMIT\n');
    expect(removalRules('-P OUTPUT ACCEPT\n', raw)).toBe('*raw\n-D OUTPUT -p tcp -j CROSSMESH_RAW_OUTPUT\n-F CROSSMESH_RAW_OUTPUT\n-X CROSSMESH_RAW_OUTPUT\nCOMMIT\n');
  });

  it('names the flag in every error', () => {
    expect(() => captureOptionsOf({ ...FLAGS, proxyUid: 'envoy' })).toThrow('--proxy-uid must be a whole number');
    expect(() => captureOptionsOf({ ...FLAGS, outboundPort: '70000' })).toThrow('--outbound-port must be a whole number 1-65535, got "70000"');
    expect(() => captureOptionsOf({ ...FLAGS, inboundPort: '15001' })).toThrow('--outbound-port and --inbound-port must differ');
    expect(() => captureOptionsOf({ ...FLAGS, excludeInboundPorts: '15000,x' })).toThrow('--exclude-inbound-ports must be a whole number 1-65535, got "x"');
    expect(() => captureOptionsOf({ ...FLAGS, excludeOutboundCidrs: '10.0.0.0/33' })).toThrow('--exclude-outbound-cidrs: "10.0.0.0/33" is not a CIDR');
    expect(() => captureOptionsOf({ ...FLAGS, excludeOutboundCidrs: 'fd00::/8' })).toThrow('add --ipv6');
    expect(() => runCapture({ ...FLAGS, apply: true, remove: true })).toThrow('--apply, --remove are exclusive');
    const out: string[] = [];
    expect(runCapture({ ...FLAGS, ipv6: true }, { out: (t) => out.push(t), err: () => {} })).toBe(0);
    expect(out.join('')).toContain('# ip6tables-restore --noflush\n*nat');
  });

  it('says to install iptables when the binary is missing, and names a failing command with its stderr', () => {
    expect(() => run('crossmesh-no-such-iptables-restore', ['--noflush'], '')).toThrow('crossmesh-no-such-iptables-restore not found: install iptables');
    expect(() => run('sh', ['-c', 'echo boom >&2; exit 3'])).toThrow("sh -c echo boom >&2; exit 3 failed (exit 3): boom");
  });
});
