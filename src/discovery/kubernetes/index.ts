/** Public entry of Kubernetes discovery: start one per Cluster that has `discovery.kubernetes`. */
export {
  startKubernetesDiscovery,
  type KubernetesDiscovery,
  type KubernetesDiscoveryOptions,
  type KubernetesDiscoveryStatus,
  type TopologySink,
} from './discovery.js';
export { loadClusterKubeConfig, expandKubeconfigPath, type LoadedKubeConfig } from './kubeconfig.js';
export { kubernetesSource, type KubernetesSource } from './kubernetes-source.js';
