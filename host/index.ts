/**
 * pidfd: race-free process management for Linux, on pidfds.
 *
 * Processes are held by pidfds in a small static sidecar; this module is its host side.
 */
export { Child } from './child.js';
export { PidfdError, InvalidArgumentError } from './errors.js';
export { PidFd, type OpenOptions } from './pidfd.js';
export { killTree, waitTree, openTree, ProcessTree, type TreeOptions, type TreeWaitOptions } from './tree.js';
export type { KillOptions } from './handle.js';
export { spawn, type SpawnOptions } from './spawn.js';
export { run, RunError, type RunOptions, type RunResult } from './run.js';
export { Command } from './command.js';
export { Scope, cgroupOf, cgroupDir, type CgroupUsage, type ScopeOptions, type ScopeSpawnOptions, type TreeKillOptions } from './cgroup/index.js';
export type { Limits } from '../schemas/cgroup.js';
export { features, sidecarInfo, type Features } from './features.js';
export { shutdown, type ShutdownOptions } from './shutdown.js';
export { signalName, signalNumber } from './signals.js';
export type { ExitInfo } from '../schemas/exit.js';
export type { Rusage, Siginfo, PidfdInfo } from '../schemas/kernel.js';
