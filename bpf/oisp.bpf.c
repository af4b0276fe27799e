// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * oisp-sensor kernel side: captures TLS plaintext at SSL_write/SSL_read (and
 * the _ex forms), process exec/exit, openat, connect/accept/close, and binds
 * each SSL* to its socket. It never parses protocols: user space does.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define EINPROGRESS 115
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* Fixed at load time by user space. */
const volatile __u32 self_pid = 0;
const volatile __u32 max_capture_bytes = 256 * 1024;
/*
 * Wake-up coalescing window (0: the kernel's adaptive wake-ups, one whenever
 * the consumer has caught up, i.e. about one per record or two when it keeps
 * up). Otherwise a record wakes the consumer only when no wake-up was sent in
 * the last window; user space drains on a timer of the same period while
 * records flow, so no record waits longer than about one window. Not rodata:
 * user space widens it under load and narrows it again when load falls
 * (through the mmapped .bss; a torn read is impossible for an aligned u64).
 */
__u64 wakeup_window_ns = 0;

/* Per ring (0 TLS, 1 events): when a wake-up was last forced. Races only cost an extra wake-up. */
__u64 last_wakeup_ns[2] = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized before load */
} tls_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* resized before load */
} event_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OISP_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} config_flags SEC(".maps");

/* value: 1 = configured by the user, 2 = followed child (removed at exit).
 * Sized before load (OISP_MAX_FOLLOWED_PIDS); a child that does not fit is
 * not followed, and counted (target_pids_full). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} target_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, char[OISP_COMM_LEN]);
	__type(value, __u8);
} target_comms SEC(".maps");

struct ssl_call {
	__u64 ssl;
	__u64 buf;
	__u64 len_ptr; /* size_t *written / *readbytes of the _ex forms */
	__u64 entry_ns; /* when the call was entered; for Go also the nonce that pairs the per-thread copy with its call */
	__s32 fd_in_call;
	__s32 fd_hint;
	__u8 func;
	__u8 direction;
	__u8 how; /* how fd_in_call was learnt; 0 = OISP_BIND_IN_CALL */
	__u8 _pad[5];
};

/*
 * The in-flight tables (ssl_calls_by_tid, go_calls_by_g, open_args_by_tid,
 * connect_args_by_tid) are plain hashes sized before load
 * (OISP_MAX_INFLIGHT_CALLS), not LRU: an LRU insert into a full table evicts
 * another call still in flight, a loss nobody sees. Here a call that does not
 * fit is not tracked, and counted. A return probe that never fires (the
 * thread died inside the call) leaves no entry behind: handle_exit removes
 * the thread's entries, and a TLS process's goroutine entries when it dies.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct ssl_call);
} ssl_calls_by_tid SEC(".maps");

/* Go TLS calls in flight, keyed by goroutine (pid, g from R14), not by
 * thread: a Read that blocks parks its goroutine, which may then resume and
 * return on another OS thread. */
struct go_call_key {
	__u32 pid;
	__u32 _pad;
	__u64 g;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH); /* in flight: see ssl_calls_by_tid */
	__uint(max_entries, 16384);
	__type(key, struct go_call_key);
	__type(value, struct ssl_call);
} go_calls_by_g SEC(".maps");

/* Per Go executable: where its *tls.Conn keeps the socket fd (uprobe cookie = index). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, OISP_GO_LAYOUTS_MAX);
	__type(key, __u32);
	__type(value, struct oisp_go_layout);
} go_layouts SEC(".maps");

struct pid_ssl_key {
	__u32 pid;
	__u32 _pad;
	__u64 ssl;
};

struct pid_fd_key {
	__u32 pid;
	__s32 fd;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pid_ssl_key);
	__type(value, __s32);
} fd_by_ssl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pid_fd_key);
	__type(value, __u64);
} ssl_by_fd SEC(".maps");

/*
 * The next call number of each (pid, SSL*), per direction, taken before the
 * record meets the ring: a call lost to a full ring leaves a hole in the
 * numbers, so user space knows the stream jumped instead of misreading what
 * follows. Per direction because a connection's reads and writes may run on
 * two threads at once (Go), which would reorder a shared count; calls of one
 * direction are serialised by the library. LRU: a forgotten connection starts
 * again at 0, which user space takes as a fresh start.
 */
struct call_seq {
	__u32 next[2]; /* [0] writes, [1] reads (OISP_DIR_WRITE, OISP_DIR_READ) */
	/* 1 from a write's entry until its return: a read returning meanwhile
	 * carries OISP_FLAG_AFTER_WRITE. A flag, not a count: a return missed (a
	 * thread that died in the call, nested probes) is healed by the next one. */
	__u32 write_open;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pid_ssl_key);
	__type(value, struct call_seq);
} call_seq_by_ssl SEC(".maps");

/* The connection's entry; with `create`, a zeroed one when it has none (NULL only if that fails). */
static __always_inline struct call_seq *call_seq_of(__u64 id, __u64 ssl, bool create)
{
	struct pid_ssl_key key = { .pid = id >> 32, .ssl = ssl };
	struct call_seq *seq = bpf_map_lookup_elem(&call_seq_by_ssl, &key);
	if (seq || !create)
		return seq;
	struct call_seq fresh = {};
	bpf_map_update_elem(&call_seq_by_ssl, &key, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&call_seq_by_ssl, &key);
}

/* A tracked write entered: reads that return before it does are flagged. */
static __always_inline void write_opened(__u64 id, __u64 ssl)
{
	struct call_seq *seq = call_seq_of(id, ssl, true);
	if (seq)
		seq->write_open = 1;
}

/* A write returned without a record (it failed): nothing to wait for. */
static __always_inline void write_closed(__u64 id, __u64 ssl)
{
	struct call_seq *seq = call_seq_of(id, ssl, false);
	if (seq)
		seq->write_open = 0;
}

/* A call the in-flight table refused still takes its number: its bytes are
 * not seen, and the hole says so. A refused call that would have failed
 * (WANT_READ) makes a false hole: in-flight exchanges end early, which beats
 * pairing a response with the wrong request. Nothing seen yet on the
 * connection: no numbers to keep in step. */
static __always_inline void skip_call_seq(__u64 id, __u64 ssl, __u8 direction)
{
	struct call_seq *seq = call_seq_of(id, ssl, false);
	if (!seq)
		return;
	if (direction == OISP_DIR_READ)
		seq->next[1]++;
	else
		seq->next[0]++;
}

/*
 * This call's number on its connection and direction (mod 2^16); see
 * call_seq_by_ssl. For a read, also whether a write was in flight and which
 * number it will take. Order matters: a write clears write_open before taking
 * its number and a read loads the number before write_open, so a read that
 * sees the flag set waits for a number not yet taken (x86 keeps stores, and
 * loads, in program order).
 */
static __always_inline __u16 next_call_seq(__u64 id, __u64 ssl, __u8 direction, struct oisp_tls_data *rec)
{
	struct call_seq *seq = call_seq_of(id, ssl, true);
	if (!seq)
		return 0; /* a fresh start, as user space reads number 0 */
	/* Not atomic: calls of one direction do not overlap (see above). Constant
	 * indices only: clang may turn a variable one into a pointer OR, which the
	 * verifier refuses. */
	if (direction == OISP_DIR_READ) {
		__u32 writes = *(volatile __u32 *)&seq->next[0];
		if (*(volatile __u32 *)&seq->write_open) {
			rec->h.flags |= OISP_FLAG_AFTER_WRITE;
			rec->write_awaited = (__u16)writes;
		}
		__u32 n = seq->next[1];
		seq->next[1] = n + 1;
		return (__u16)n;
	}
	*(volatile __u32 *)&seq->write_open = 0;
	__u32 n = seq->next[0];
	*(volatile __u32 *)&seq->next[0] = n + 1;
	return (__u16)n;
}

/* inet sockets seen by connect/accept/bind, so close() is reported only for them */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pid_fd_key);
	__type(value, __u8);
} known_sockets SEC(".maps");

/* processes that made TLS calls: only their read/write syscalls are looked at.
 * value: TLS_PID_* bits; TLS_PID_GO: it may hold go_calls_by_g entries. */
#define TLS_PID_ANY 1
#define TLS_PID_GO 2
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} tls_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, __s32);
} last_read_fd_by_tid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, __u64);
} unbound_write_ssl_by_tid SEC(".maps");

struct open_args {
	__u64 path;
	__s32 dirfd;
	__u32 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH); /* in flight: see ssl_calls_by_tid */
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct open_args);
} open_args_by_tid SEC(".maps");

struct connect_args {
	__u64 addr;
	__s32 fd;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH); /* in flight: see ssl_calls_by_tid */
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct connect_args);
} connect_args_by_tid SEC(".maps");

_Static_assert((OISP_TLS_CHUNK_MAX & (OISP_TLS_CHUNK_MAX - 1)) == 0, "chunk size must be a power of two");

struct tls_scratch {
	struct oisp_tls_data rec;
	__u8 data[OISP_TLS_CHUNK_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tls_scratch);
} tls_scratch_buf SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1;
}

static __always_inline __u32 current_config(void)
{
	__u32 zero = 0;
	__u32 *flags = bpf_map_lookup_elem(&config_flags, &zero);
	return flags ? *flags : 0;
}

/* Every filter decision: the sensor never traces itself; with filtering on,
 * a process is traced when its pid or its comm is a target. */
static __always_inline bool trace_allowed(__u32 pid, __u32 cfg)
{
	if (pid == self_pid)
		return false;
	if (!(cfg & OISP_CFG_FILTER))
		return true;
	if (bpf_map_lookup_elem(&target_pids, &pid))
		return true;
	char comm[OISP_COMM_LEN] = {};
	bpf_get_current_comm(comm, sizeof(comm));
	return bpf_map_lookup_elem(&target_comms, comm) != NULL;
}

/* Flags for bpf_ringbuf_submit/output: wake the consumer at most once per window. */
static __always_inline __u64 wakeup_flags(__u32 ring)
{
	__u64 window = wakeup_window_ns;
	if (!window)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 *last = &last_wakeup_ns[ring & 1];
	if (now - *last >= window) {
		*last = now;
		return BPF_RB_FORCE_WAKEUP;
	}
	return BPF_RB_NO_WAKEUP;
}
#define TLS_RING_ID 0
#define EVENT_RING_ID 1

/* A fixed-size record in the event ring; a full ring is counted. */
static __always_inline void *reserve_event(__u64 size)
{
	void *e = bpf_ringbuf_reserve(&event_ring, size, 0);
	if (!e)
		count(OISP_CNT_EVENT_RING_FULL);
	return e;
}

static __always_inline void fill_header(struct oisp_header *h, __u8 kind, __u64 id)
{
	h->kind = kind;
	h->flags = 0;
	h->_pad0 = 0;
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->uid = (__u32)bpf_get_current_uid_gid();
	h->ts_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

static __always_inline void read_inet_addr(struct sock *sk, __u16 family,
					   struct oisp_sockaddr *local,
					   struct oisp_sockaddr *remote)
{
	local->family = family;
	remote->family = family;
	local->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	remote->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	/* Explicit sizes: the destination is a byte array, not the field's type. */
	if (family == AF_INET) {
		bpf_core_read(local->addr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(remote->addr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(local->addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(remote->addr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/* Addresses of the current process's fd, read from its kernel socket; false
 * when fd is not an inet socket. Works for sockets opened before the sensor. */
static __always_inline bool sock_addrs_of_fd(__s32 fd, struct oisp_sockaddr *local,
					     struct oisp_sockaddr *remote)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd < 0)
		return false;
	if ((__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return false;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file)
		return false;
	umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return false;
	struct socket *sock = BPF_CORE_READ(file, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return false;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return false;
	read_inet_addr(sk, family, local, remote);
	return true;
}

static __always_inline void remember_socket(__u32 pid, __s32 fd)
{
	struct pid_fd_key key = { .pid = pid, .fd = fd };
	__u8 one = 1;
	bpf_map_update_elem(&known_sockets, &key, &one, BPF_ANY);
}

/* Binds ssl to fd when fd is an inet socket, and tells user space with the
 * socket's addresses. */
static __always_inline bool bind_ssl(__u64 id, __u64 ssl, __s32 fd, __u8 how)
{
	__u32 pid = id >> 32;
	struct oisp_tls_bind *b = reserve_event(sizeof(*b));
	if (!b)
		return false;
	__builtin_memset(&b->local, 0, sizeof(b->local));
	__builtin_memset(&b->remote, 0, sizeof(b->remote));
	if (!sock_addrs_of_fd(fd, &b->local, &b->remote)) {
		bpf_ringbuf_discard(b, 0);
		return false;
	}
	fill_header(&b->h, OISP_EV_TLS_BIND, id);
	b->conn_id = ssl;
	b->fd = fd;
	b->how = how;
	b->_pad1[0] = b->_pad1[1] = b->_pad1[2] = 0;
	bpf_ringbuf_submit(b, wakeup_flags(EVENT_RING_ID));

	struct pid_ssl_key sk = { .pid = pid, .ssl = ssl };
	struct pid_fd_key fk = { .pid = pid, .fd = fd };
	bpf_map_update_elem(&fd_by_ssl, &sk, &fd, BPF_ANY);
	bpf_map_update_elem(&ssl_by_fd, &fk, &ssl, BPF_ANY);
	remember_socket(pid, fd);
	return true;
}

/* A TLS call of a traced process: remembers the pid as a TLS user (tls_pids),
 * `kind` says which (TLS_PID_ANY, or TLS_PID_GO as well). */
static __always_inline bool tls_call_allowed(__u32 pid, __u8 kind)
{
	if (!trace_allowed(pid, current_config()))
		return false;
	__u8 *known = bpf_map_lookup_elem(&tls_pids, &pid);
	if (!known || (*known & kind) != kind) {
		__u8 bits = (known ? *known : 0) | kind;
		bpf_map_update_elem(&tls_pids, &pid, &bits, BPF_ANY);
	}
	return true;
}

static __always_inline int ssl_enter(struct pt_regs *ctx, __u8 func, __u8 direction)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32;
	__u32 tid = (__u32)id;
	if (!tls_call_allowed(pid, TLS_PID_ANY))
		return 0;

	struct ssl_call call = {};
	call.ssl = PT_REGS_PARM1(ctx);
	call.buf = PT_REGS_PARM2(ctx);
	if (func == OISP_FN_SSL_WRITE_EX || func == OISP_FN_SSL_READ_EX)
		call.len_ptr = PT_REGS_PARM4(ctx);
	call.func = func;
	call.direction = direction;
	call.fd_in_call = -1;
	call.fd_hint = -1;
	call.entry_ns = bpf_ktime_get_ns();
	if (direction == OISP_DIR_READ) {
		__s32 *fd = bpf_map_lookup_elem(&last_read_fd_by_tid, &tid);
		if (fd)
			call.fd_hint = *fd;
	}
	if (bpf_map_update_elem(&ssl_calls_by_tid, &id, &call, BPF_ANY)) {
		count(OISP_CNT_SSL_CALLS_FULL);
		skip_call_seq(id, call.ssl, direction);
	} else if (direction == OISP_DIR_WRITE) {
		write_opened(id, call.ssl);
	}
	return 0;
}

/* The fd of the call's socket: a syscall inside the call wins (socket BIO),
 * then the cached binding, then the memory-BIO hint. -1 when unknown. */
static __always_inline __s32 resolve_fd(__u64 id, struct ssl_call *call)
{
	struct pid_ssl_key key = { .pid = id >> 32, .ssl = call->ssl };
	__s32 *cached = bpf_map_lookup_elem(&fd_by_ssl, &key);
	__s32 known = cached ? *cached : -1;
	__s32 fd;
	__u8 how;

	if (call->fd_in_call >= 0) {
		fd = call->fd_in_call;
		how = call->how ? call->how : OISP_BIND_IN_CALL;
	} else if (known >= 0) {
		return known;
	} else if (call->fd_hint >= 0) {
		fd = call->fd_hint;
		how = OISP_BIND_LAST_READ;
	} else {
		return -1;
	}
	if (fd == known)
		return fd;
	return bind_ssl(id, call->ssl, fd, how) ? fd : known;
}

struct chunk_loop_ctx {
	struct oisp_tls_data rec;
	__u64 buf;
	__u32 capture;
};

static long emit_chunk(__u32 index, struct chunk_loop_ctx *lc)
{
	__u32 zero = 0;
	__u32 offset = index * OISP_TLS_CHUNK_MAX;
	if (offset > lc->capture)
		return 1;
	struct tls_scratch *s = bpf_map_lookup_elem(&tls_scratch_buf, &zero);
	if (!s)
		return 1;
	__u32 n = lc->capture - offset;
	if (n > OISP_TLS_CHUNK_MAX)
		n = OISP_TLS_CHUNK_MAX;
	/* The same bound in a form the verifier tracks: n in [1, CHUNK]
	 * (n == 0 only for a metadata-only record, handled below). */
	__u32 len = n ? ((n - 1) & (OISP_TLS_CHUNK_MAX - 1)) + 1 : 0;
	s->rec = lc->rec;
	s->rec.chunk_index = index;
	s->rec.chunk_offset = offset;
	if (len > 0 && bpf_probe_read_user(s->data, len, (void *)(lc->buf + offset))) {
		count(OISP_CNT_TLS_READ_FAILED);
		s->rec.h.flags |= OISP_FLAG_READ_FAILED;
		len = 0;
	}
	s->rec.data_len = len;
	if (bpf_ringbuf_output(&tls_ring, s, sizeof(s->rec) + len, wakeup_flags(TLS_RING_ID)))
		count(OISP_CNT_TLS_RING_FULL);
	return 0;
}

/* Emits the bytes a finished call moved, as TLS_DATA records. */
static __always_inline void emit_call(__u64 id, struct ssl_call *call, __u64 len)
{
	__s32 fd = resolve_fd(id, call);
	if (fd < 0 && call->direction == OISP_DIR_WRITE) {
		__u32 tid = (__u32)id;
		bpf_map_update_elem(&unbound_write_ssl_by_tid, &tid, &call->ssl, BPF_ANY);
	}

	struct chunk_loop_ctx lc = {};
	fill_header(&lc.rec.h, OISP_EV_TLS_DATA, id);
	__u32 total = len > 0xffffffffULL ? 0xffffffffU : (__u32)len;
	__u32 capture = total;
	if (capture > max_capture_bytes) {
		capture = max_capture_bytes;
		lc.rec.h.flags |= OISP_FLAG_TRUNCATED;
		count(OISP_CNT_TLS_TRUNCATED);
	}
	__u32 chunks = capture ? (capture + OISP_TLS_CHUNK_MAX - 1) / OISP_TLS_CHUNK_MAX : 1;
	lc.rec.conn_id = call->ssl;
	lc.rec.fd = fd;
	lc.rec.direction = call->direction;
	lc.rec.func = call->func;
	lc.rec.chunk_count = chunks;
	lc.rec.call_seq = next_call_seq(id, call->ssl, call->direction, &lc.rec);
	__u64 took = lc.rec.h.ts_ns - call->entry_ns;
	lc.rec.call_ns = took > 0xffffffffULL ? 0xffffffffU : (__u32)took;
	lc.rec.total_len = total;
	lc.buf = call->buf;
	lc.capture = capture;
	bpf_loop(chunks, emit_chunk, &lc, 0);
}

static __always_inline int ssl_exit(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_call *pending = bpf_map_lookup_elem(&ssl_calls_by_tid, &id);
	if (!pending)
		return 0;
	struct ssl_call call = *pending;
	bpf_map_delete_elem(&ssl_calls_by_tid, &id);

	long ret = PT_REGS_RC(ctx);
	__u64 len = 0;
	if (call.func == OISP_FN_SSL_WRITE_EX || call.func == OISP_FN_SSL_READ_EX) {
		if ((int)ret != 1 || bpf_probe_read_user(&len, sizeof(len), (void *)call.len_ptr))
			len = 0;
	} else if ((int)ret > 0) {
		len = (__u32)(int)ret;
	}
	if (len > 0)
		emit_call(id, &call, len);
	else if (call.direction == OISP_DIR_WRITE)
		write_closed(id, call.ssl);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(uprobe_ssl_write) { return ssl_enter(ctx, OISP_FN_SSL_WRITE, OISP_DIR_WRITE); }
SEC("uretprobe")
int BPF_KRETPROBE(uretprobe_ssl_write) { return ssl_exit(ctx); }
SEC("uprobe")
int BPF_KPROBE(uprobe_ssl_read) { return ssl_enter(ctx, OISP_FN_SSL_READ, OISP_DIR_READ); }
SEC("uretprobe")
int BPF_KRETPROBE(uretprobe_ssl_read) { return ssl_exit(ctx); }
SEC("uprobe")
int BPF_KPROBE(uprobe_ssl_write_ex) { return ssl_enter(ctx, OISP_FN_SSL_WRITE_EX, OISP_DIR_WRITE); }
SEC("uretprobe")
int BPF_KRETPROBE(uretprobe_ssl_write_ex) { return ssl_exit(ctx); }
SEC("uprobe")
int BPF_KPROBE(uprobe_ssl_read_ex) { return ssl_enter(ctx, OISP_FN_SSL_READ_EX, OISP_DIR_READ); }
SEC("uretprobe")
int BPF_KRETPROBE(uretprobe_ssl_read_ex) { return ssl_exit(ctx); }
/* GnuTLS: gnutls_record_send/recv(session, data, size) return the bytes moved,
 * like SSL_write/SSL_read; the session pointer is the connection key. */
SEC("uprobe")
int BPF_KPROBE(uprobe_gnutls_send) { return ssl_enter(ctx, OISP_FN_GNUTLS_SEND, OISP_DIR_WRITE); }
SEC("uretprobe")
int BPF_KRETPROBE(uretprobe_gnutls_send) { return ssl_exit(ctx); }
SEC("uprobe")
int BPF_KPROBE(uprobe_gnutls_recv) { return ssl_enter(ctx, OISP_FN_GNUTLS_RECV, OISP_DIR_READ); }
SEC("uretprobe")
int BPF_KRETPROBE(uretprobe_gnutls_recv) { return ssl_exit(ctx); }

/*
 * Go crypto/tls: (*Conn).Write(b []byte) and (*Conn).Read(b []byte), Go
 * register ABI (amd64, Go >= 1.17): c in RAX, b.ptr in RBX, b.len in RCX,
 * the current g in R14; on return n in RAX. No uretprobes (they rewrite the
 * return address, which Go's stack copying and traceback cannot stand):
 * user space puts a plain uprobe on every RET of the function (go_ret).
 */

/* The socket fd of *tls.Conn c, through the executable's layout; -1 when
 * unknown. The itab check keeps a wrapped net.Conn from yielding garbage. */
static __always_inline __s32 go_conn_fd(struct pt_regs *ctx, __u64 conn)
{
	__u32 index = (__u32)bpf_get_attach_cookie(ctx);
	struct oisp_go_layout *l = bpf_map_lookup_elem(&go_layouts, &index);
	if (!l || !l->valid)
		return -1;
	__u64 itab = 0, data = 0, netfd = 0;
	__s64 sysfd = -1;
	if (bpf_probe_read_user(&itab, sizeof(itab), (void *)(conn + l->conn_data_off - 8)) ||
	    (l->tcp_conn_itab && itab != l->tcp_conn_itab) ||
	    bpf_probe_read_user(&data, sizeof(data), (void *)(conn + l->conn_data_off)) ||
	    bpf_probe_read_user(&netfd, sizeof(netfd), (void *)(data + l->netconn_fd_off)) ||
	    bpf_probe_read_user(&sysfd, sizeof(sysfd), (void *)(netfd + l->netfd_sysfd_off)) ||
	    sysfd < 0 || sysfd > 0x7fffffff) {
		count(OISP_CNT_GO_CONN_UNREADABLE);
		return -1;
	}
	return (__s32)sysfd;
}

static __always_inline int go_enter(struct pt_regs *ctx, __u8 func, __u8 direction)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32;
	if (!tls_call_allowed(pid, TLS_PID_ANY | TLS_PID_GO))
		return 0;
	struct go_call_key key = { .pid = pid, .g = ctx->r14 };
	struct ssl_call call = {};
	call.ssl = ctx->ax;
	call.buf = ctx->bx;
	call.func = func;
	call.direction = direction;
	call.fd_hint = -1;
	call.entry_ns = bpf_ktime_get_ns();
	call.fd_in_call = go_conn_fd(ctx, call.ssl);
	if (call.fd_in_call >= 0) {
		call.how = OISP_BIND_GO_CONN;
	} else if (bpf_map_update_elem(&ssl_calls_by_tid, &id, &call, BPF_ANY)) {
		/* the thread's socket syscalls during the call bind it instead */
		count(OISP_CNT_SSL_CALLS_FULL);
	}
	if (bpf_map_update_elem(&go_calls_by_g, &key, &call, BPF_ANY)) {
		count(OISP_CNT_GO_CALLS_FULL);
		skip_call_seq(id, call.ssl, direction);
	} else if (direction == OISP_DIR_WRITE) {
		write_opened(id, call.ssl);
	}
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(uprobe_go_write) { return go_enter(ctx, OISP_FN_GO_WRITE, OISP_DIR_WRITE); }
SEC("uprobe")
int BPF_KPROBE(uprobe_go_read) { return go_enter(ctx, OISP_FN_GO_READ, OISP_DIR_READ); }

SEC("uprobe")
int BPF_KPROBE(uprobe_go_ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct go_call_key key = { .pid = id >> 32, .g = ctx->r14 };
	struct ssl_call *pending = bpf_map_lookup_elem(&go_calls_by_g, &key);
	if (!pending)
		return 0;
	struct ssl_call call = *pending;
	bpf_map_delete_elem(&go_calls_by_g, &key);

	/* Syscall fallback: what this thread's socket syscalls saw during the call.
	 * Best effort: a goroutine that moved to another thread finds no copy here
	 * (the nonce keeps a stale copy of an earlier call from matching) and
	 * relies on the binding cached from an earlier call. */
	struct ssl_call *by_tid = bpf_map_lookup_elem(&ssl_calls_by_tid, &id);
	if (by_tid && by_tid->ssl == call.ssl && by_tid->entry_ns == call.entry_ns) {
		if (call.fd_in_call < 0)
			call.fd_in_call = by_tid->fd_in_call;
		bpf_map_delete_elem(&ssl_calls_by_tid, &id);
	}

	long n = (long)ctx->ax;
	if (n > 0)
		emit_call(id, &call, (__u64)n);
	else if (call.direction == OISP_DIR_WRITE)
		write_closed(id, call.ssl);
	return 0;
}

/* A socket syscall by a thread of a TLS process: inside an SSL call it binds
 * that call (socket BIO); outside, a read is the hint for the next SSL_read
 * and a write binds the SSL* whose SSL_write had no socket (memory BIO). */
static __always_inline void on_socket_io(__s32 fd, bool is_write)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32;
	__u32 tid = (__u32)id;
	if (!bpf_map_lookup_elem(&tls_pids, &pid))
		return;
	struct ssl_call *call = bpf_map_lookup_elem(&ssl_calls_by_tid, &id);
	if (call) {
		if (call->fd_in_call < 0)
			call->fd_in_call = fd;
		return;
	}
	if (!is_write) {
		bpf_map_update_elem(&last_read_fd_by_tid, &tid, &fd, BPF_ANY);
		return;
	}
	__u64 *ssl = bpf_map_lookup_elem(&unbound_write_ssl_by_tid, &tid);
	if (!ssl)
		return;
	__u64 conn = *ssl;
	if (bind_ssl(id, conn, fd, OISP_BIND_NEXT_WRITE))
		bpf_map_delete_elem(&unbound_write_ssl_by_tid, &tid);
}

SEC("tracepoint/syscalls/sys_enter_write")
int handle_enter_write(struct trace_event_raw_sys_enter *ctx) { on_socket_io(ctx->args[0], true); return 0; }
SEC("tracepoint/syscalls/sys_enter_writev")
int handle_enter_writev(struct trace_event_raw_sys_enter *ctx) { on_socket_io(ctx->args[0], true); return 0; }
SEC("tracepoint/syscalls/sys_enter_sendto")
int handle_enter_sendto(struct trace_event_raw_sys_enter *ctx) { on_socket_io(ctx->args[0], true); return 0; }
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int handle_enter_sendmsg(struct trace_event_raw_sys_enter *ctx) { on_socket_io(ctx->args[0], true); return 0; }
SEC("tracepoint/syscalls/sys_enter_read")
int handle_enter_read(struct trace_event_raw_sys_enter *ctx) { on_socket_io(ctx->args[0], false); return 0; }
SEC("tracepoint/syscalls/sys_enter_readv")
int handle_enter_readv(struct trace_event_raw_sys_enter *ctx) { on_socket_io(ctx->args[0], false); return 0; }
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int handle_enter_recvfrom(struct trace_event_raw_sys_enter *ctx) { on_socket_io(ctx->args[0], false); return 0; }
SEC("tracepoint/syscalls/sys_enter_recvmsg")
int handle_enter_recvmsg(struct trace_event_raw_sys_enter *ctx) { on_socket_io(ctx->args[0], false); return 0; }

/* bpf_for_each_map_elem callback: drops the goroutine calls of process *pid. */
static long drop_go_call_of(struct bpf_map *map, struct go_call_key *key, struct ssl_call *call, __u32 *pid)
{
	if (key->pid == *pid)
		bpf_map_delete_elem(map, key);
	return 0;
}

/* Goroutine calls are keyed by process, not thread: when the program they ran
 * in is gone (exit of its last thread, or exec), their returns never come.
 * Only a process that made Go TLS calls pays for the walk. */
static __always_inline void forget_go_calls(__u32 pid, bool process_dead)
{
	__u8 *known = bpf_map_lookup_elem(&tls_pids, &pid);
	if (!known)
		return;
	if (*known & TLS_PID_GO)
		bpf_for_each_map_elem(&go_calls_by_g, drop_go_call_of, &pid, 0);
	if (process_dead) {
		bpf_map_delete_elem(&tls_pids, &pid);
	} else if (*known & TLS_PID_GO) {
		__u8 bits = *known & ~TLS_PID_GO;
		bpf_map_update_elem(&tls_pids, &pid, &bits, BPF_ANY);
	}
}

/* The calls thread `id` was inside: their return probes never fire now. */
static __always_inline void forget_thread_calls(__u64 id)
{
	bpf_map_delete_elem(&ssl_calls_by_tid, &id);
	bpf_map_delete_elem(&open_args_by_tid, &id);
	bpf_map_delete_elem(&connect_args_by_tid, &id);
}

SEC("tracepoint/sched/sched_process_exec")
int handle_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	/* The old image is gone: its goroutines, and (when a thread other than
	 * the leader exec'd, taking the leader's id) what that thread held. */
	forget_go_calls(id >> 32, false);
	if ((__u32)ctx->old_pid != (__u32)id)
		forget_thread_calls((id & ~0xffffffffULL) | (__u32)ctx->old_pid);
	__u32 cfg = current_config();
	if (!(cfg & OISP_CFG_PROC_EVENTS) || !trace_allowed(id >> 32, cfg))
		return 0;
	struct oisp_proc_exec *e = reserve_event(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, OISP_EV_PROC_EXEC, id);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);

	unsigned int off = ctx->__data_loc_filename & 0xffff;
	long n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + off);
	e->filename_len = n > 0 ? n - 1 : 0;
	if (n == sizeof(e->filename))
		e->h.flags |= OISP_FLAG_STRING_TRUNCATED;

	__u64 arg_start = BPF_CORE_READ(task, mm, arg_start);
	__u64 arg_end = BPF_CORE_READ(task, mm, arg_end);
	__u64 args_len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (args_len > OISP_ARGS_MAX) {
		args_len = OISP_ARGS_MAX;
		e->h.flags |= OISP_FLAG_STRING_TRUNCATED;
	}
	if (args_len && bpf_probe_read_user(e->args, args_len, (void *)arg_start))
		args_len = 0;
	e->args_len = args_len;
	bpf_ringbuf_submit(e, wakeup_flags(EVENT_RING_ID));
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 cfg = current_config();
	if ((cfg & (OISP_CFG_FILTER | OISP_CFG_FOLLOW_CHILDREN)) !=
	    (OISP_CFG_FILTER | OISP_CFG_FOLLOW_CHILDREN))
		return 0;
	__u32 child_pid = child->tgid;
	if (child_pid != (__u32)child->pid)
		return 0; /* a new thread, not a new process */
	if (!trace_allowed(parent->tgid, cfg))
		return 0;
	__u8 followed = 2;
	if (bpf_map_update_elem(&target_pids, &child_pid, &followed, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&target_pids, &child_pid))
		count(OISP_CNT_TARGET_PIDS_FULL);
	return 0;
}

/* Every thread's exit (the tracepoint fires per thread); the process's exit
 * (event, followed-child bookkeeping) at its thread-group leader's. */
SEC("tracepoint/sched/sched_process_exit")
int handle_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	forget_thread_calls(id);
	/* signal->live reaches 0 at the last thread's exit, before this tracepoint. */
	if (BPF_CORE_READ(task, signal, live.counter) == 0)
		forget_go_calls(pid, true);
	if (pid != (__u32)id)
		return 0; /* only thread-group leaders */
	__u32 cfg = current_config();
	if (!trace_allowed(pid, cfg))
		return 0;
	__u8 *target = bpf_map_lookup_elem(&target_pids, &pid);
	if (target && *target == 2)
		bpf_map_delete_elem(&target_pids, &pid);
	if (!(cfg & OISP_CFG_PROC_EVENTS))
		return 0;

	struct oisp_proc_exit *e = reserve_event(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, OISP_EV_PROC_EXIT, id);
	int status = BPF_CORE_READ(task, exit_code);
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->exit_code = (status >> 8) & 0xff;
	e->signal = status & 0x7f;
	e->_pad1 = 0;
	bpf_ringbuf_submit(e, wakeup_flags(EVENT_RING_ID));
	return 0;
}

static __always_inline int open_enter(__s32 dirfd, __u64 path, __u32 flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 cfg = current_config();
	if (!(cfg & OISP_CFG_FILE_EVENTS) || !trace_allowed(id >> 32, cfg))
		return 0;
	struct open_args args = { .path = path, .dirfd = dirfd, .flags = flags };
	if (bpf_map_update_elem(&open_args_by_tid, &id, &args, BPF_ANY))
		count(OISP_CNT_SYSCALL_ARGS_FULL);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int handle_enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter(ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_open")
int handle_enter_open(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter(-100 /* AT_FDCWD */, ctx->args[0], ctx->args[1]);
}

static __always_inline int open_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct open_args *args = bpf_map_lookup_elem(&open_args_by_tid, &id);
	if (!args)
		return 0;
	struct open_args a = *args;
	bpf_map_delete_elem(&open_args_by_tid, &id);

	struct oisp_file_open *e = reserve_event(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, OISP_EV_FILE_OPEN, id);
	e->dirfd = a.dirfd;
	e->result = ret;
	e->flags = a.flags;
	e->_pad1 = 0;
	long n = bpf_probe_read_user_str(e->path, sizeof(e->path), (void *)a.path);
	e->path_len = n > 0 ? n - 1 : 0;
	if (n == sizeof(e->path))
		e->h.flags |= OISP_FLAG_STRING_TRUNCATED;
	bpf_ringbuf_submit(e, wakeup_flags(EVENT_RING_ID));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int handle_exit_openat(struct trace_event_raw_sys_exit *ctx) { return open_exit(ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_open")
int handle_exit_open(struct trace_event_raw_sys_exit *ctx) { return open_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_connect")
int handle_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 cfg = current_config();
	if (!(cfg & OISP_CFG_NET_EVENTS) || !trace_allowed(id >> 32, cfg))
		return 0;
	struct connect_args args = { .fd = ctx->args[0], .addr = ctx->args[1] };
	if (bpf_map_update_elem(&connect_args_by_tid, &id, &args, BPF_ANY))
		count(OISP_CNT_SYSCALL_ARGS_FULL);
	return 0;
}

static __always_inline void read_user_sockaddr(__u64 uaddr, struct oisp_sockaddr *out)
{
	__u16 family = 0;
	bpf_probe_read_user(&family, sizeof(family), (void *)uaddr);
	if (family == AF_INET) {
		struct sockaddr_in sin = {};
		bpf_probe_read_user(&sin, sizeof(sin), (void *)uaddr);
		out->family = AF_INET;
		out->port = bpf_ntohs(sin.sin_port);
		__builtin_memcpy(out->addr, &sin.sin_addr, 4);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 sin6 = {};
		bpf_probe_read_user(&sin6, sizeof(sin6), (void *)uaddr);
		out->family = AF_INET6;
		out->port = bpf_ntohs(sin6.sin6_port);
		__builtin_memcpy(out->addr, &sin6.sin6_addr, 16);
	}
}

SEC("tracepoint/syscalls/sys_exit_connect")
int handle_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct connect_args *args = bpf_map_lookup_elem(&connect_args_by_tid, &id);
	if (!args)
		return 0;
	struct connect_args a = *args;
	bpf_map_delete_elem(&connect_args_by_tid, &id);

	struct oisp_sockaddr remote = {};
	read_user_sockaddr(a.addr, &remote);
	if (remote.family != AF_INET && remote.family != AF_INET6)
		return 0; /* unix and netlink sockets are not network traffic */

	struct oisp_net_conn *e = reserve_event(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, OISP_EV_NET_CONNECT, id);
	e->fd = a.fd;
	e->result = ctx->ret;
	e->remote = remote;
	struct oisp_sockaddr ignored = {};
	__builtin_memset(&e->local, 0, sizeof(e->local));
	if (ctx->ret == 0 || ctx->ret == -EINPROGRESS) {
		sock_addrs_of_fd(a.fd, &e->local, &ignored);
		remember_socket(id >> 32, a.fd);
	}
	bpf_ringbuf_submit(e, wakeup_flags(EVENT_RING_ID));
	return 0;
}

static __always_inline int accept_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 cfg = current_config();
	if (ret < 0 || !(cfg & OISP_CFG_NET_EVENTS) || !trace_allowed(id >> 32, cfg))
		return 0;
	struct oisp_net_conn *e = reserve_event(sizeof(*e));
	if (!e)
		return 0;
	__builtin_memset(&e->local, 0, sizeof(e->local));
	__builtin_memset(&e->remote, 0, sizeof(e->remote));
	if (!sock_addrs_of_fd(ret, &e->local, &e->remote)) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	fill_header(&e->h, OISP_EV_NET_ACCEPT, id);
	e->fd = ret;
	e->result = ret;
	remember_socket(id >> 32, ret);
	bpf_ringbuf_submit(e, wakeup_flags(EVENT_RING_ID));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int handle_exit_accept(struct trace_event_raw_sys_exit *ctx) { return accept_exit(ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_accept4")
int handle_exit_accept4(struct trace_event_raw_sys_exit *ctx) { return accept_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_close")
int handle_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pid_fd_key key = { .pid = id >> 32, .fd = ctx->args[0] };
	if (!bpf_map_lookup_elem(&known_sockets, &key))
		return 0;
	bpf_map_delete_elem(&known_sockets, &key);

	__u64 conn = 0;
	__u64 *ssl = bpf_map_lookup_elem(&ssl_by_fd, &key);
	if (ssl) {
		conn = *ssl;
		struct pid_ssl_key sk = { .pid = key.pid, .ssl = conn };
		bpf_map_delete_elem(&fd_by_ssl, &sk);
		bpf_map_delete_elem(&ssl_by_fd, &key);
	}
	__u32 cfg = current_config();
	if (!(cfg & OISP_CFG_NET_EVENTS) || !trace_allowed(key.pid, cfg))
		return 0;
	struct oisp_net_close *e = reserve_event(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, OISP_EV_NET_CLOSE, id);
	e->fd = key.fd;
	e->_pad1 = 0;
	e->conn_id = conn;
	bpf_ringbuf_submit(e, wakeup_flags(EVENT_RING_ID));
	return 0;
}
