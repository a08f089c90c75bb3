/**
 * The resources a connected proxy is served, decoded to JSON for /debug/config_dump, with a
 * redaction hook so key material never leaves the process (Secrets' private keys by default).
 */
import { resourceToJson } from './codec.js';
import type { SnapshotCache } from './cache.js';
import type { ProxyStatus, XdsStream } from './stream.js';
import { ADS_ORDER, SECRET_TYPE, TYPE_SHORT_NAME, type TypeUrl } from './types.js';

/** Rewrites a decoded resource before it is shown (e.g. removes private keys); must not mutate shared state. */
export type ResourceRedactor = (typeUrl: TypeUrl, name: string, json: Record<string, unknown>) => Record<string, unknown>;

/** One type's part of a dump. */
export interface TypeDump {
  readonly typeUrl: TypeUrl;
  readonly group: string;
  readonly lastSentVersion: string;
  readonly ackedVersion: string;
  readonly resources: readonly { readonly name: string; readonly version: string; readonly resource: Record<string, unknown> }[];
  /** Subscribed names the proxy is waiting for that the group does not have. */
  readonly missing: readonly string[];
}

/** Everything one node is served, across its streams. */
export interface ConfigDump {
  readonly nodeId: string;
  readonly streams: readonly ProxyStatus[];
  readonly types: Readonly<Record<string, TypeDump>>;
}

const REDACTED = '[redacted]';

function redactDataSource(ds: unknown): unknown {
  if (!ds || typeof ds !== 'object') return ds;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(ds as Record<string, unknown>)) out[k] = k === 'filename' ? (ds as Record<string, unknown>)[k] : REDACTED;
  return out;
}

/** Default redactor: replaces inline private keys (and key passwords) in Secrets. */
export const redactPrivateKeys: ResourceRedactor = (typeUrl, _name, json) => {
  if (typeUrl !== SECRET_TYPE) return json;
  const cert = json.tls_certificate as Record<string, unknown> | undefined;
  if (!cert) return json;
  const safe: Record<string, unknown> = { ...cert };
  for (const k of ['private_key', 'password', 'pkcs12']) if (k in safe) safe[k] = redactDataSource(safe[k]);
  return { ...json, tls_certificate: safe };
};

/** Builds the dump for every open stream of `nodeId`; undefined if none is connected. */
export function buildConfigDump(nodeId: string, streams: readonly XdsStream[], cache: SnapshotCache, redact: ResourceRedactor): ConfigDump | undefined {
  const mine = streams.filter((s) => s.active && s.node?.id === nodeId);
  if (mine.length === 0) return undefined;
  const types: Record<string, TypeDump> = {};
  for (const t of ADS_ORDER) {
    for (const s of mine) {
      const st = s.types.get(t);
      const group = s.groups?.get(t);
      if (!st?.requested || group === undefined) continue;
      const set = cache.get(group, t);
      const resources: TypeDump['resources'][number][] = [];
      const names = st.wildcard ? [...new Set([...set.resources.keys(), ...st.subscribed])] : [...st.subscribed];
      const missing: string[] = [];
      for (const name of names.sort()) {
        const r = set.resources.get(name);
        if (!r) {
          missing.push(name);
          continue;
        }
        resources.push({ name, version: r.version, resource: redact(t, name, resourceToJson(r)) });
      }
      types[TYPE_SHORT_NAME[t]] = { typeUrl: t, group, lastSentVersion: st.lastSentVersion, ackedVersion: st.ackedVersion, resources, missing };
      break;
    }
  }
  return { nodeId, streams: mine.map((s) => s.status()), types };
}
