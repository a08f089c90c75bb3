/**
 * Pods as Linux network namespaces: the simulation harness tests, benchmarks and users (as root)
 * build multi-cluster worlds with. Start with startSimulation (sim.ts); the other exports are the
 * pieces it is made of, for harnesses that need something it does not build.
 */
export { startSimulation, Simulation, type NetworkSpec, type PodSpec, type RunOptions, type SimNode, type SimulationSpec, type SimulationTimings } from './sim.js';
export { Driver, startDriver, driverMainPath, type StartDriverOptions } from './driver.js';
export type { ConnectResult, RequestResult, RequestsSpec, ResolveResult } from './driver-protocol.js';
export { NsProcess, spawnInNamespace, namespacedArgv, tailFile, type ExitStatus, type SpawnOptions } from './process.js';
export { cleanupLeftovers, inventory, removeRun, type Inventory } from './leftovers.js';
export { PROJECT_PREFIX, RunNames, claimRunPrefix, runPrefixOf } from './names.js';
export { addLeg, addRoute, createBridge, createNamespace, deleteLink, deleteNamespace, execInNamespace, setSysctls, writeNamespaceEtc, type Leg } from './netns.js';
export { forEachLimited } from './pool.js';
export { localRequest, type LocalEndpoint, type LocalResponse } from './local-http.js';
