/** HTTP client for the admin endpoints, used by `crossmesh status` and `crossmesh config-dump`. */

/** Default admin base URL (the serve default). */
export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:18080';

/** GETs `path` from the admin server and parses JSON; throws a message naming the URL and the server's error. */
export async function fetchAdminJson<T>(adminUrl: string, path: string): Promise<T> {
  let base: URL;
  try {
    base = new URL(adminUrl);
  } catch {
    throw new Error(`--admin must be a URL such as ${DEFAULT_ADMIN_URL}, got ${JSON.stringify(adminUrl)}`);
  }
  const url = new URL(path, base);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e instanceof Error ? e.message : String(e));
    throw new Error(`cannot reach the crossmesh admin server at ${base.origin} (${cause}); is \`crossmesh serve\` running?`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${url.href} answered ${res.status} with a non-JSON body`);
  }
  if (!res.ok) {
    const err = (body as { error?: string }).error ?? text;
    throw new Error(`${url.pathname}: ${err} (HTTP ${res.status})`);
  }
  return body as T;
}
