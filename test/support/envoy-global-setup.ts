/** Global setup of the `envoy` test project: says once, in one line, why the Envoy suite is skipped when there is no Envoy binary outside CI. */
import { envoyMissingMessage, findEnvoy } from '../../src/envoy/binary.js';

export default function setup(): void {
  if (!process.env.CI && !findEnvoy()) console.log(`Envoy suite skipped: ${envoyMissingMessage()}`);
}
