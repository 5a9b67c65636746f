/**
 * pidfd: race-free process management for Linux, on pidfds.
 *
 * Processes are held by pidfds in a small static sidecar; this module is its host side.
 * The package's entry: it re-exports the public API and nothing else.
 */
export { spawn, type SpawnOptions } from './api/spawn.js';
export { run, type RunOptions, type RunResult } from './api/run.js';
export { runSync } from './api/run-sync.js';
export { $, DollarCommand, type Dollar, type DollarOptions, type DollarResult, type DollarSync, type DollarSyncResult } from './api/dollar.js';
export { pipeline, type PipelineOptions, type PipelineResult, type PipelineStage, type PipelineStageOptions } from './api/pipeline.js';
export { Command } from './api/command.js';
export { features, sidecarInfo, type Features } from './api/features.js';
export { shutdown, type ShutdownOptions } from './api/shutdown.js';
export { Scope, cgroupOf, cgroupDir, type CgroupUsage, type ScopeOptions, type ScopeSpawnOptions, type TreeKillOptions } from './cgroup/index.js';
export { Child } from './process/child.js';
export type { Terminal } from './process/terminal.js';
export type { TerminalOptions } from '../schemas/spawn.js';
export { PidFd, type OpenOptions } from './process/pidfd.js';
export { killTree, waitTree, openTree, ProcessTree, type TreeOptions, type TreeWaitOptions } from './process/tree.js';
export type { KillOptions } from './process/handle.js';
export { PidfdError, InvalidArgumentError, RunError, ErrorCode } from '../schemas/errors.js';
export { signalName, signalNumber } from '../schemas/signals.js';
export type { Limits } from '../schemas/cgroup.js';
export type { ExitInfo } from '../schemas/exit.js';
export type { Rusage, Siginfo, PidfdInfo } from '../schemas/kernel.js';
