/** Talking to the processes a benchmark scenario forks: awaiting their next message, stopping them. */
import type { ChildProcess } from 'node:child_process';

/**
 * The next IPC message of `child`; rejects on `{type: 'error'}`, on the process exiting, or after
 * `timeoutMs`, so a scenario never waits for a child that is stuck or gone.
 */
export function nextMessage<T extends { type: string }>(child: ChildProcess, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const onMessage = (m: T): void => {
      cleanup();
      if (m.type === 'error') reject(new Error(`${what}: ${(m as unknown as { message: string }).message}`));
      else resolve(m);
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`${what}: process exited with ${code}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Asks `child` to exit (IPC `{type: 'exit'}`, else SIGTERM) and kills it if it has not within 3 s. */
export function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    if (child.connected) child.send({ type: 'exit' });
    else child.kill('SIGTERM');
  });
}
