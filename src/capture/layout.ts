// The TypeScript mirror of bpf/events.h. test/unit/capture/layout.test.ts and
// the sensor's start-up check compare it with what the addon's C compiler
// reports (abiLayout/abiConstants), so a change on one side cannot go unseen.

export interface StructLayout {
  size: number;
  fields: Record<string, number>;
}

export const LAYOUT = {
  oisp_header: { size: 40, fields: { kind: 0, flags: 1, pid: 4, tid: 8, uid: 12, ts_ns: 16, comm: 24 } },
  oisp_sockaddr: { size: 20, fields: { family: 0, port: 2, addr: 4 } },
  oisp_tls_data: {
    size: 80,
    fields: {
      conn_id: 40, fd: 48, direction: 52, func: 53, chunk_index: 54, chunk_count: 56,
      call_seq: 58, total_len: 60, chunk_offset: 64, data_len: 68, write_awaited: 72, call_ns: 76,
    },
  },
  oisp_tls_bind: { size: 96, fields: { conn_id: 40, fd: 48, how: 52, local: 56, remote: 76 } },
  oisp_proc_exec: {
    size: 1328,
    fields: { ppid: 40, filename_len: 44, args_len: 46, filename: 48, args: 304 },
  },
  oisp_proc_exit: { size: 56, fields: { ppid: 40, exit_code: 44, signal: 48 } },
  oisp_file_open: { size: 312, fields: { dirfd: 40, result: 44, flags: 48, path_len: 52, path: 56 } },
  oisp_net_conn: { size: 88, fields: { fd: 40, result: 44, local: 48, remote: 68 } },
  oisp_go_layout: {
    size: 24,
    fields: { tcp_conn_itab: 0, conn_data_off: 8, netconn_fd_off: 12, netfd_sysfd_off: 16, valid: 20 },
  },
  oisp_net_close: { size: 56, fields: { fd: 40, conn_id: 48 } },
} as const satisfies Record<string, StructLayout>;

export const ABI = {
  OISP_COMM_LEN: 16,
  OISP_PATH_MAX: 256,
  OISP_ARGS_MAX: 1024,
  OISP_TLS_CHUNK_MAX: 16384,
  OISP_CAPTURE_LIMIT: 16777216,
  OISP_GO_LAYOUTS_MAX: 1024,
  OISP_EV_TLS_DATA: 1,
  OISP_EV_TLS_BIND: 2,
  OISP_EV_PROC_EXEC: 3,
  OISP_EV_PROC_EXIT: 4,
  OISP_EV_FILE_OPEN: 5,
  OISP_EV_NET_CONNECT: 6,
  OISP_EV_NET_ACCEPT: 7,
  OISP_EV_NET_CLOSE: 8,
  OISP_FLAG_TRUNCATED: 1,
  OISP_FLAG_READ_FAILED: 2,
  OISP_FLAG_STRING_TRUNCATED: 4,
  OISP_FLAG_AFTER_WRITE: 8,
  OISP_DIR_WRITE: 0,
  OISP_DIR_READ: 1,
  OISP_FN_SSL_WRITE: 0,
  OISP_FN_SSL_READ: 1,
  OISP_FN_SSL_WRITE_EX: 2,
  OISP_FN_SSL_READ_EX: 3,
  OISP_FN_GNUTLS_SEND: 4,
  OISP_FN_GNUTLS_RECV: 5,
  OISP_FN_GO_WRITE: 6,
  OISP_FN_GO_READ: 7,
  OISP_BIND_IN_CALL: 1,
  OISP_BIND_LAST_READ: 2,
  OISP_BIND_NEXT_WRITE: 3,
  OISP_BIND_GO_CONN: 4,
  OISP_CNT_TLS_RING_FULL: 0,
  OISP_CNT_EVENT_RING_FULL: 1,
  OISP_CNT_SSL_CALLS_FULL: 2,
  OISP_CNT_TLS_READ_FAILED: 3,
  OISP_CNT_TLS_TRUNCATED: 4,
  OISP_CNT_TARGET_PIDS_FULL: 5,
  OISP_CNT_SYSCALL_ARGS_FULL: 6,
  OISP_CNT_GO_CALLS_FULL: 7,
  OISP_CNT_GO_CONN_UNREADABLE: 8,
  OISP_CNT_MAX: 9,
  OISP_CFG_FILTER: 1,
  OISP_CFG_FOLLOW_CHILDREN: 2,
  OISP_CFG_FILE_EVENTS: 4,
  OISP_CFG_NET_EVENTS: 8,
  OISP_CFG_PROC_EVENTS: 16,
} as const;

/** Names of the kernel counters, index = enum oisp_counter. */
export const KERNEL_COUNTER_NAMES = [
  'tls_ring_full',
  'event_ring_full',
  'ssl_calls_table_full',
  'tls_read_failed',
  'tls_truncated_calls',
  'target_pids_full',
  'syscall_args_table_full',
  'go_calls_table_full',
  'go_conn_unreadable',
] as const;

/** Each difference between the C layout and this mirror, as a sentence. */
export function layoutMismatches(
  native: Record<string, StructLayout>,
  constants: Record<string, number>,
): string[] {
  const out: string[] = [];
  for (const [name, mine] of Object.entries(LAYOUT) as [string, StructLayout][]) {
    const theirs = native[name];
    if (!theirs) {
      out.push(`struct ${name} is missing from the addon`);
      continue;
    }
    if (theirs.size !== mine.size) out.push(`sizeof(${name}) is ${theirs.size} in C, ${mine.size} in TS`);
    for (const [field, off] of Object.entries(mine.fields)) {
      if (theirs.fields[field] !== off) {
        out.push(`offsetof(${name}, ${field}) is ${theirs.fields[field]} in C, ${off} in TS`);
      }
    }
    for (const field of Object.keys(theirs.fields)) {
      if (!(field in mine.fields)) out.push(`${name}.${field} exists in C but not in TS`);
    }
  }
  for (const name of Object.keys(native)) {
    if (!(name in LAYOUT)) out.push(`struct ${name} exists in C but not in TS`);
  }
  for (const [name, value] of Object.entries(ABI)) {
    if (constants[name] !== value) out.push(`${name} is ${constants[name]} in C, ${value} in TS`);
  }
  for (const name of Object.keys(constants)) {
    if (!(name in ABI)) out.push(`constant ${name} exists in C but not in TS`);
  }
  return out;
}
