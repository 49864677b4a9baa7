/**
 * The V8 flags the service runs with in production: the image sets them (Dockerfile) and
 * the Kubernetes deployment repeats them (deploy/k8s/deployment.yaml); the bench runs the server
 * with the same value, and a test keeps the three equal. Without a cap V8 grows the heap lazily
 * under load (RSS reached 385–430 MB in the bench); with it RSS stayed at 171 MB after the full
 * bench at the same throughput (bench/results.md), and a leak ends in a clean OOM restart.
 * Semi-spaces of 16 MB rather than 8: the main thread's share of garbage collection under the
 * profile and refresh load fell from 15–17 % to 11 % of its time (CPU profiles, two runs each),
 * for ≈ 15 MB more RSS; 32 MB collected no less than 16 (bench/results.md, "Session 11").
 * One V8 worker thread instead of Node's default four: a replica has a core or two (the pod
 * requests a quarter of one), which four helpers oversubscribe beside the main thread and the
 * password hashes. On the bench's two cores, with one helper an agent run took ≈ 11 % less server
 * CPU (p50 4.1 → 3.6 ms in seven alternating pairs), `/users/me` and refresh ≈ 3–5 % less,
 * young-generation pauses ≈ 5 % less (1.34 → 1.28 ms mean), and nothing measured got slower
 * (bench/results.md, "Session 12").
 */
export const PRODUCTION_NODE_OPTIONS = '--max-old-space-size=128 --max-semi-space-size=16 --v8-pool-size=1';
