/** Worker entry of the fuzz scenario: runs one target with the options it was given and posts the Tally back. */
import { parentPort, workerData } from 'node:worker_threads';
import { runLoader, runXds, type FuzzOptions } from './fuzz-run.js';

const data = workerData as Omit<FuzzOptions, 'progress'> & { readonly progress: SharedArrayBuffer };
const options: FuzzOptions = { ...data, progress: new Int32Array(data.progress) };
parentPort!.postMessage(options.target === 'xds' ? await runXds(options) : await runLoader(options));
