// Kernel struct layouts the decoder reads, and the slots of its output area.
// Imported by both assembly/index.ts (AssemblyScript) and host/kernel/structs.ts
// (TypeScript), so this file holds plain `export const NAME = number;` lines
// valid in both languages. Offsets are bytes; see sidecar/PROTOCOL.md.

// siginfo_t as waitid() fills it for SIGCHLD.
export const SIGINFO_SIZE = 128;
export const SI_SIGNO = 0; // i32
export const SI_ERRNO = 4; // i32
export const SI_CODE = 8; // i32: CLD_EXITED 1, CLD_KILLED 2, CLD_DUMPED 3
export const SI_PID = 16; // i32
export const SI_UID = 20; // u32
export const SI_STATUS = 24; // i32: exit code, or the signal number

// Kernel struct rusage on 64-bit: two {i64 sec, i64 usec}, then 14 × i64.
export const RUSAGE_SIZE = 144;
export const RU_UTIME_SEC = 0;
export const RU_UTIME_USEC = 8;
export const RU_STIME_SEC = 16;
export const RU_STIME_USEC = 24;
export const RU_MAXRSS = 32;
export const RU_IXRSS = 40;
export const RU_IDRSS = 48;
export const RU_ISRSS = 56;
export const RU_MINFLT = 64;
export const RU_MAJFLT = 72;
export const RU_NSWAP = 80;
export const RU_INBLOCK = 88;
export const RU_OUBLOCK = 96;
export const RU_MSGSND = 104;
export const RU_MSGRCV = 112;
export const RU_NSIGNALS = 120;
export const RU_NVCSW = 128;
export const RU_NIVCSW = 136;

// struct pidfd_info, PIDFD_INFO_SIZE_VER0.
export const PIDFD_INFO_SIZE = 64;
export const PI_MASK = 0; // u64
export const PI_CGROUPID = 8; // u64
export const PI_PID = 16; // u32, and so on up to PI_FSGID
export const PI_TGID = 20;
export const PI_PPID = 24;
export const PI_RUID = 28;
export const PI_RGID = 32;
export const PI_EUID = 36;
export const PI_EGID = 40;
export const PI_SUID = 44;
export const PI_SGID = 48;
export const PI_FSUID = 52;
export const PI_FSGID = 56;
export const PI_EXIT_CODE = 60; // i32, valid only with PIDFD_INFO_EXIT in mask
// The request/answer mask of PIDFD_GET_INFO.
export const PIDFD_INFO_PID = 1;
export const PIDFD_INFO_CREDS = 2;
export const PIDFD_INFO_CGROUPID = 4;
export const PIDFD_INFO_EXIT = 8;

// The input area holds one struct, so it is as large as the largest.
export const INPUT_SIZE = 144;

// Output area: f64 slots. Each decode call overwrites the slots of its struct.
export const OUTPUT_SLOTS = 16;

export const OUT_SI_SIGNO = 0;
export const OUT_SI_ERRNO = 1;
export const OUT_SI_CODE = 2;
export const OUT_SI_PID = 3;
export const OUT_SI_UID = 4;
export const OUT_SI_STATUS = 5;

export const OUT_RU_USER_CPU_MS = 0;
export const OUT_RU_SYSTEM_CPU_MS = 1;
export const OUT_RU_MAXRSS = 2;
export const OUT_RU_IXRSS = 3;
export const OUT_RU_IDRSS = 4;
export const OUT_RU_ISRSS = 5;
export const OUT_RU_MINFLT = 6;
export const OUT_RU_MAJFLT = 7;
export const OUT_RU_NSWAP = 8;
export const OUT_RU_INBLOCK = 9;
export const OUT_RU_OUBLOCK = 10;
export const OUT_RU_MSGSND = 11;
export const OUT_RU_MSGRCV = 12;
export const OUT_RU_NSIGNALS = 13;
export const OUT_RU_NVCSW = 14;
export const OUT_RU_NIVCSW = 15;

export const OUT_PI_MASK = 0;
export const OUT_PI_CGROUPID = 1;
export const OUT_PI_PID = 2;
export const OUT_PI_TGID = 3;
export const OUT_PI_PPID = 4;
export const OUT_PI_RUID = 5;
export const OUT_PI_RGID = 6;
export const OUT_PI_EUID = 7;
export const OUT_PI_EGID = 8;
export const OUT_PI_SUID = 9;
export const OUT_PI_SGID = 10;
export const OUT_PI_FSUID = 11;
export const OUT_PI_FSGID = 12;
export const OUT_PI_EXIT_CODE = 13;
