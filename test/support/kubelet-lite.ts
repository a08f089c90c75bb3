/**
 * The little of the kubelet a test needs to run an injected pod's containers by hand in a
 * network namespace: resolving a container's environment (downward API `metadata.name` /
 * `metadata.namespace`, literal values with `$(VAR)` references to earlier variables), expanding
 * `$(VAR)` in its command and arguments, and standing in for volume mounts by rewriting each
 * mount path to a host directory (the harness has no mount namespace per container).
 */

/** The parts of a pod container this reads. */
export interface PodContainer {
  readonly name: string;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly env?: readonly { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  readonly volumeMounts?: readonly { name: string; mountPath: string }[];
}

/** The kubelet's `$(VAR)` expansion: a defined variable is replaced, `$$` is a literal `$`, anything else stays as written. */
export function expandVars(text: string, vars: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => (m === '$$' ? '$' : (vars.get(name!) ?? m)));
}

/** A container's environment as the kubelet resolves it for a pod with this name and namespace. */
export function containerEnv(c: PodContainer, pod: { name: string; namespace: string }): Map<string, string> {
  const vars = new Map<string, string>();
  for (const e of c.env ?? []) {
    const field = e.valueFrom?.fieldRef?.fieldPath;
    if (field === 'metadata.name') vars.set(e.name, pod.name);
    else if (field === 'metadata.namespace') vars.set(e.name, pod.namespace);
    else if (field !== undefined) throw new Error(`container ${c.name}: env ${e.name} uses fieldRef ${field}, which this harness does not provide`);
    else vars.set(e.name, expandVars(e.value ?? '', vars));
  }
  return vars;
}

/**
 * argv and environment of a container: command + args with `$(VAR)` expanded, every mount path
 * replaced by the host directory of its volume (`hostDirs[volume]`; a mount of a volume without
 * one is an error).
 */
export function containerProcess(c: PodContainer, pod: { name: string; namespace: string }, hostDirs: Readonly<Record<string, string>>): { argv: string[]; env: Record<string, string> } {
  const vars = containerEnv(c, pod);
  const mounts = [...(c.volumeMounts ?? [])].sort((a, b) => b.mountPath.length - a.mountPath.length);
  for (const m of mounts) if (hostDirs[m.name] === undefined) throw new Error(`container ${c.name}: no host directory for volume ${m.name}`);
  const remount = (s: string): string => mounts.reduce((t, m) => t.split(m.mountPath).join(hostDirs[m.name]!), s);
  const argv = [...(c.command ?? []), ...(c.args ?? [])].map((a) => remount(expandVars(a, vars)));
  if (argv.length === 0) throw new Error(`container ${c.name}: no command (the harness cannot use an image's entrypoint)`);
  return { argv, env: Object.fromEntries([...vars].map(([k, v]) => [k, remount(v)])) };
}
