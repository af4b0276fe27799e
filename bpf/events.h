/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one ABI between the eBPF programs (bpf/oisp.bpf.c) and user space
 * (native/ reports sizeof/offsetof of every field; src/capture/layout.ts
 * mirrors it and test/unit/capture/layout.test.ts proves both agree).
 *
 * Layout rules: natural alignment, explicit padding fields, never packed;
 * every record starts with struct oisp_header, whose first byte is the kind.
 * This header includes nothing: the includer provides __u8.. __s32 (vmlinux.h
 * on the BPF side, <linux/types.h> in the addon).
 */
#ifndef OISP_EVENTS_H
#define OISP_EVENTS_H

#define OISP_COMM_LEN 16
#define OISP_PATH_MAX 256
#define OISP_ARGS_MAX 1024
/* Payload bytes per TLS record; a larger SSL call is split into chunks. */
#define OISP_TLS_CHUNK_MAX 16384
/* Upper bound for OISP_MAX_CAPTURE_BYTES (bounds the chunk loop). */
#define OISP_CAPTURE_LIMIT (16 * 1024 * 1024)
/* Entries of the go_layouts map; index 0 is "layout unknown" and never set. */
#define OISP_GO_LAYOUTS_MAX 1024

enum oisp_event_kind {
	OISP_EV_TLS_DATA = 1,
	OISP_EV_TLS_BIND = 2,
	OISP_EV_PROC_EXEC = 3,
	OISP_EV_PROC_EXIT = 4,
	OISP_EV_FILE_OPEN = 5,
	OISP_EV_NET_CONNECT = 6,
	OISP_EV_NET_ACCEPT = 7,
	OISP_EV_NET_CLOSE = 8,
};

/* oisp_header.flags */
enum oisp_event_flags {
	/* TLS: the call moved more bytes than OISP_MAX_CAPTURE_BYTES; set on every chunk. */
	OISP_FLAG_TRUNCATED = 1,
	/* TLS: the user buffer could not be read; data_len is 0 for this chunk. */
	OISP_FLAG_READ_FAILED = 2,
	/* exec: filename or args did not fit. */
	OISP_FLAG_STRING_TRUNCATED = 4,
	/* TLS read: a write on the same connection was in flight when this read
	 * returned; it follows that write (write_awaited), whose record comes later
	 * when the writer returns last (Go writes and reads on two goroutines). */
	OISP_FLAG_AFTER_WRITE = 8,
};

enum oisp_direction {
	OISP_DIR_WRITE = 0, /* the process wrote plaintext (SSL_write*) */
	OISP_DIR_READ = 1,  /* the process read plaintext (SSL_read*) */
};

enum oisp_tls_func {
	OISP_FN_SSL_WRITE = 0,
	OISP_FN_SSL_READ = 1,
	OISP_FN_SSL_WRITE_EX = 2,
	OISP_FN_SSL_READ_EX = 3,
	OISP_FN_GNUTLS_SEND = 4, /* gnutls_record_send: returns bytes sent */
	OISP_FN_GNUTLS_RECV = 5, /* gnutls_record_recv: returns bytes received */
	OISP_FN_GO_WRITE = 6,    /* crypto/tls.(*Conn).Write (Go register ABI) */
	OISP_FN_GO_READ = 7,     /* crypto/tls.(*Conn).Read (Go register ABI) */
};

/* How an SSL* learnt its socket (oisp_tls_bind.how). */
enum oisp_bind_how {
	OISP_BIND_IN_CALL = 1,    /* socket syscall inside the SSL call (socket BIO) */
	OISP_BIND_LAST_READ = 2,  /* read() on the same thread just before SSL_read (memory BIO) */
	OISP_BIND_NEXT_WRITE = 3, /* write() on the same thread just after SSL_write (memory BIO) */
	OISP_BIND_GO_CONN = 4,    /* Sysfd read from the *tls.Conn's net.Conn (struct layout by Go version) */
};

/* Indexes of the per-CPU counter map `counters`. */
enum oisp_counter {
	OISP_CNT_TLS_RING_FULL = 0,    /* TLS records lost: ring reservation failed */
	OISP_CNT_EVENT_RING_FULL = 1,  /* system event records lost: ring full */
	OISP_CNT_SSL_CALLS_FULL = 2,   /* SSL calls not tracked: ssl_calls_by_tid full */
	OISP_CNT_TLS_READ_FAILED = 3,  /* chunks whose user buffer could not be read */
	OISP_CNT_TLS_TRUNCATED = 4,    /* SSL calls cut at OISP_MAX_CAPTURE_BYTES */
	OISP_CNT_TARGET_PIDS_FULL = 5, /* children not followed: target_pids full */
	OISP_CNT_SYSCALL_ARGS_FULL = 6,/* open/connect not reported: args map full */
	OISP_CNT_GO_CALLS_FULL = 7,    /* Go TLS calls not tracked: go_calls_by_g full */
	OISP_CNT_GO_CONN_UNREADABLE = 8,/* Go conn not a *net.TCPConn or unreadable: syscall fallback */
	OISP_CNT_MAX = 9,
};

/* config_flags map bits (changeable at run time). */
enum oisp_config_flags {
	OISP_CFG_FILTER = 1,          /* only trace target_pids / target_comms */
	OISP_CFG_FOLLOW_CHILDREN = 2, /* children of traced processes are traced */
	OISP_CFG_FILE_EVENTS = 4,     /* report openat */
	OISP_CFG_NET_EVENTS = 8,      /* report connect/accept/close */
	OISP_CFG_PROC_EVENTS = 16,    /* report exec/exit */
};

struct oisp_header {
	__u8 kind;
	__u8 flags;
	__u16 _pad0;
	__u32 pid; /* thread group id */
	__u32 tid;
	__u32 uid;
	__u64 ts_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	char comm[OISP_COMM_LEN];
};

struct oisp_sockaddr {
	__u16 family; /* AF_INET, AF_INET6, or 0 when unknown */
	__u16 port;   /* host byte order */
	__u8 addr[16]; /* IPv4 in the first 4 bytes, network order */
};

/* Variable length: data_len bytes follow the fixed part. */
struct oisp_tls_data {
	struct oisp_header h;
	__u64 conn_id; /* the SSL* */
	__s32 fd;      /* socket fd, or -1 when not (yet) known */
	__u8 direction;
	__u8 func;
	__u16 chunk_index;
	__u16 chunk_count;
	__u16 call_seq;     /* the call's number on its connection in this direction, mod 2^16: a hole means calls were lost */
	__u32 total_len;    /* bytes the call really transferred */
	__u32 chunk_offset; /* offset of this chunk in the call's bytes */
	__u32 data_len;     /* payload bytes that follow this fixed part */
	__u16 write_awaited; /* with OISP_FLAG_AFTER_WRITE: call_seq of the write in flight */
	__u16 _pad1;
	__u32 call_ns;       /* from the call's entry to this record (h.ts_ns), saturated at 2^32 - 1 */
};

/* An SSL* was bound to a socket fd; addresses read from the kernel socket. */
struct oisp_tls_bind {
	struct oisp_header h;
	__u64 conn_id;
	__s32 fd;
	__u8 how;
	__u8 _pad1[3];
	struct oisp_sockaddr local;
	struct oisp_sockaddr remote;
};

struct oisp_proc_exec {
	struct oisp_header h;
	__u32 ppid;
	__u16 filename_len; /* bytes of filename, without the NUL */
	__u16 args_len;     /* bytes of args: argv strings, each NUL-terminated */
	char filename[OISP_PATH_MAX];
	char args[OISP_ARGS_MAX];
};

struct oisp_proc_exit {
	struct oisp_header h;
	__u32 ppid;
	__s32 exit_code; /* as in exit(2): (status >> 8) & 0xff */
	__u32 signal;    /* terminating signal, or 0 */
	__u32 _pad1;
};

struct oisp_file_open {
	struct oisp_header h;
	__s32 dirfd;
	__s32 result; /* fd, or -errno */
	__u32 flags;  /* open(2) flags */
	__u16 path_len;
	__u16 _pad1;
	char path[OISP_PATH_MAX];
};

/* connect (result 0 or -EINPROGRESS = success) and accept (result = new fd). */
struct oisp_net_conn {
	struct oisp_header h;
	__s32 fd;
	__s32 result;
	struct oisp_sockaddr local;
	struct oisp_sockaddr remote;
};

/* Where a Go executable keeps the socket fd of a *tls.Conn (go_layouts map,
 * written by user space per executable, indexed by the uprobe's cookie):
 * fd = *(s64 *)(*(u64 *)(*(u64 *)(conn + conn_data_off) + netconn_fd_off) + netfd_sysfd_off),
 * trusted only when the interface's itab is tcp_conn_itab (0: not checked). */
struct oisp_go_layout {
	__u64 tcp_conn_itab;
	__u32 conn_data_off;   /* tls.Conn.conn (net.Conn) data word */
	__u32 netconn_fd_off;  /* net.conn.fd (*netFD) */
	__u32 netfd_sysfd_off; /* netFD.pfd.Sysfd */
	__u32 valid;           /* 0: layout unknown, bind through syscalls */
};

struct oisp_net_close {
	struct oisp_header h;
	__s32 fd;
	__u32 _pad1;
	__u64 conn_id; /* SSL* bound to this fd, or 0 */
};

#endif /* OISP_EVENTS_H */
