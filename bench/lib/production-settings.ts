/**
 * The V8 memory flags the service runs with in production: the image sets them (Dockerfile) and
 * the Kubernetes deployment repeats them (deploy/k8s/deployment.yaml); the bench runs the server
 * with the same value, and a test keeps the three equal. Without a cap V8 grows the heap lazily
 * under load (RSS reached 385–430 MB in the bench); with it RSS stayed at 171 MB after the full
 * bench at the same throughput (bench/results.md), and a leak ends in a clean OOM restart.
 * Semi-spaces of 16 MB rather than 8: the main thread's share of garbage collection under the
 * profile and refresh load fell from 15–17 % to 11 % of its time (CPU profiles, two runs each),
 * for ≈ 15 MB more RSS; 32 MB collected no less than 16 (bench/results.md, "Session 11").
 */
export const PRODUCTION_NODE_OPTIONS = '--max-old-space-size=128 --max-semi-space-size=16';
