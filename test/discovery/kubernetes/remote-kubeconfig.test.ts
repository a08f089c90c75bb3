/**
 * Kubeconfigs from remote-cluster Secrets: inline credentials are used; exec plugins,
 * auth-providers and local file paths (which would run commands or read files as crossmesh) are
 * refused with a message naming the Secret, key, entry and field, unless allow-listed.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadRemoteKubeConfig, remoteKubeconfigRefusals } from '../../../src/discovery/kubernetes/remote-kubeconfig.js';

const WHERE = 'Secret crossmesh-system/remote-east, key east';
const dir = mkdtempSync(join(tmpdir(), 'crossmesh-remote-kc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = { 'certificate-authority-data': Buffer.from('ca').toString('base64') }): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'east', cluster: { server: 'https://192.0.2.10:6443', ...cluster } }],
    users: [{ name: 'reader', user }],
    contexts: [{ name: 'east', context: { cluster: 'east', user: 'reader' } }],
    'current-context': 'east',
  });
}

describe('remote-cluster Secret kubeconfigs', () => {
  it('an inline token kubeconfig loads, with its current-context and server', () => {
    const loaded = loadRemoteKubeConfig(kubeconfig({ token: 'abc' }), WHERE, {});
    expect(loaded.context).toBe('east');
    expect(loaded.server).toBe('https://192.0.2.10:6443');
    expect(loaded.kubeConfig.getCurrentUser()?.token).toBe('abc');
  });

  it('an exec plugin is refused, naming the Secret, key, user and command, and is never run', () => {
    const marker = join(dir, 'exec-ran');
    const text = kubeconfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: '/bin/sh', args: ['-c', `touch ${marker}`] } });
    expect(() => loadRemoteKubeConfig(text, WHERE, {})).toThrow(
      `${WHERE}: kubeconfig refused: users[0] (reader): exec plugin "/bin/sh" is not allowed (it would run as crossmesh; allow it with --remote-secret-allow-exec /bin/sh, or put a token or client certificate in the kubeconfig)`,
    );
    expect(() => loadRemoteKubeConfig(text, WHERE, { execCommands: ['/usr/bin/aws'] })).toThrow(/exec plugin "\/bin\/sh" is not allowed/);
    // Allowed exactly as written: loading does not run it either (the client runs it per request).
    expect(loadRemoteKubeConfig(text, WHERE, { execCommands: ['/bin/sh'] }).context).toBe('east');
  });

  it('an auth-provider is refused unless its name is allowed', () => {
    const text = kubeconfig({ 'auth-provider': { name: 'gcp', config: { 'cmd-path': '/bin/true' } } });
    expect(() => loadRemoteKubeConfig(text, WHERE, {})).toThrow(`users[0] (reader): auth-provider "gcp" is not allowed`);
    expect(() => loadRemoteKubeConfig(text, WHERE, { authProviders: ['oidc'] })).toThrow(/auth-provider "gcp" is not allowed/);
    expect(remoteKubeconfigRefusals({ users: [{ name: 'r', user: { 'auth-provider': { name: 'gcp' } } }] }, { authProviders: ['gcp'] })).toEqual([]);
  });

  it('file paths (tokenFile, client certificate and key, CA) are refused, every one named, unless under an allowed directory', () => {
    const certs = join(dir, 'certs');
    mkdirSync(certs);
    writeFileSync(join(certs, 'token'), 'secret-token');
    const text = kubeconfig(
      { tokenFile: join(certs, 'token'), 'client-certificate': '/etc/ssl/private/crossmesh.crt', 'client-key': 'relative/key.pem' },
      { 'certificate-authority': '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt' },
    );
    let message = '';
    try {
      loadRemoteKubeConfig(text, WHERE, {});
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain(`${WHERE}: kubeconfig refused:`);
    expect(message).toContain('clusters[0] (east): certificate-authority "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt" reads a local file, which is not allowed');
    expect(message).toContain(`users[0] (reader): tokenFile "${join(certs, 'token')}" reads a local file`);
    expect(message).toContain('users[0] (reader): client-certificate "/etc/ssl/private/crossmesh.crt" reads a local file');
    expect(message).toContain('users[0] (reader): client-key "relative/key.pem" is a relative path');

    // The client library reads `token-file` while parsing: the check runs before it does.
    const tokenFileOnly = kubeconfig({ 'token-file': join(certs, 'token') });
    expect(() => loadRemoteKubeConfig(tokenFileOnly, WHERE, {})).toThrow(/token-file ".*" reads a local file/);
    const loaded = loadRemoteKubeConfig(tokenFileOnly, WHERE, { pathPrefixes: [certs] });
    expect(loaded.kubeConfig.getCurrentUser()?.token).toBe('secret-token');
    // `/a/certs` does not admit `/a/certs-other`, and a symlink out of the allowed directory is judged by its target.
    expect(remoteKubeconfigRefusals({ users: [{ name: 'r', user: { tokenFile: `${certs}-other/token` } }] }, { pathPrefixes: [certs] })).toHaveLength(1);
    symlinkSync('/etc/hostname', join(certs, 'escape'));
    expect(remoteKubeconfigRefusals({ users: [{ name: 'r', user: { tokenFile: join(certs, 'escape') } }] }, { pathPrefixes: [certs] })).toHaveLength(1);
  });

  it('unusable text is named: not YAML, not a mapping, no current-context', () => {
    expect(() => loadRemoteKubeConfig('clusters: [', WHERE, {})).toThrow(new RegExp(`^${WHERE}: not valid YAML: `));
    expect(() => loadRemoteKubeConfig('just a string', WHERE, {})).toThrow(`${WHERE}: kubeconfig refused: not a kubeconfig`);
    const noContext = kubeconfig({ token: 'abc' }).replace('current-context: east', 'current-context: ""');
    expect(() => loadRemoteKubeConfig(noContext, WHERE, {})).toThrow(`${WHERE}: kubeconfig from the Secret has no usable current-context; set its current-context (available: east)`);
  });
});
