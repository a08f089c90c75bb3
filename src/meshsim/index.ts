/**
 * The mesh simulation: crossmesh serving a mesh configuration to real Envoys in pods that are
 * network namespaces (netsim), for the Envoy end-to-end tests and benchmarks.
 */
export { startMeshSim, MeshSim, ENVOY_UID, type MeshSimOptions, type RunningPod } from './mesh-sim.js';
export { ControlPlaneProcess, type ControlPlaneSpec, type StartTimes } from './control-plane.js';
export { layoutMesh, bookinfoCalls, podName, type CallsOf, type MeshLayout, type MeshPod, type PodRole } from './layout.js';
