import { Feature, type FeatureName } from '../sidecar/protocol.js';
import { Sidecar } from '../sidecar/connection.js';

export type Features = Record<FeatureName, boolean>;

/** Which optional kernel features the sidecar found on this machine (probed at its start). */
export async function features(): Promise<Features> {
	const hello = await Sidecar.get().ready;
	const result = {} as Features;
	for (const [name, bit] of Object.entries(Feature) as [FeatureName, number][]) result[name] = (hello.features & bit) !== 0;
	return result;
}

/** The running sidecar: its pid, the kernel release, protocol version and limits. */
export async function sidecarInfo(): Promise<{ pid: number; kernel: string; protocol: number; maxHandles: number }> {
	const hello = await Sidecar.get().ready;
	return { pid: hello.pid, kernel: hello.kernel, protocol: hello.version, maxHandles: hello.maxHandles };
}
