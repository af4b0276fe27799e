// sizeof/offsetof of every field of bpf/events.h, as the C compiler sees
// them, so TypeScript can prove its decoder agrees (test and start-up check).
#include "abi_layout.h"

#include <linux/types.h>

#include <cstddef>

#include "events.h"

namespace oisp {
namespace {

#define FIELD(type, field) fields.Set(#field, Napi::Number::New(env, offsetof(struct type, field)))
#define STRUCT_BEGIN(type)                          \
  {                                                 \
    Napi::Object s = Napi::Object::New(env);        \
    Napi::Object fields = Napi::Object::New(env);   \
    s.Set("size", Napi::Number::New(env, sizeof(struct type)));
#define STRUCT_END(type)     \
    s.Set("fields", fields); \
    out.Set(#type, s);       \
  }

}  // namespace

Napi::Value AbiLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  STRUCT_BEGIN(oisp_header)
  FIELD(oisp_header, kind); FIELD(oisp_header, flags); FIELD(oisp_header, pid);
  FIELD(oisp_header, tid); FIELD(oisp_header, uid); FIELD(oisp_header, ts_ns);
  FIELD(oisp_header, comm);
  STRUCT_END(oisp_header)
  STRUCT_BEGIN(oisp_sockaddr)
  FIELD(oisp_sockaddr, family); FIELD(oisp_sockaddr, port); FIELD(oisp_sockaddr, addr);
  STRUCT_END(oisp_sockaddr)
  STRUCT_BEGIN(oisp_tls_data)
  FIELD(oisp_tls_data, conn_id); FIELD(oisp_tls_data, fd); FIELD(oisp_tls_data, direction);
  FIELD(oisp_tls_data, func); FIELD(oisp_tls_data, chunk_index);
  FIELD(oisp_tls_data, chunk_count); FIELD(oisp_tls_data, call_seq); FIELD(oisp_tls_data, total_len);
  FIELD(oisp_tls_data, chunk_offset); FIELD(oisp_tls_data, data_len);
  FIELD(oisp_tls_data, write_awaited); FIELD(oisp_tls_data, call_ns);
  STRUCT_END(oisp_tls_data)
  STRUCT_BEGIN(oisp_tls_bind)
  FIELD(oisp_tls_bind, conn_id); FIELD(oisp_tls_bind, fd); FIELD(oisp_tls_bind, how);
  FIELD(oisp_tls_bind, local); FIELD(oisp_tls_bind, remote);
  STRUCT_END(oisp_tls_bind)
  STRUCT_BEGIN(oisp_proc_exec)
  FIELD(oisp_proc_exec, ppid); FIELD(oisp_proc_exec, filename_len);
  FIELD(oisp_proc_exec, args_len); FIELD(oisp_proc_exec, filename); FIELD(oisp_proc_exec, args);
  STRUCT_END(oisp_proc_exec)
  STRUCT_BEGIN(oisp_proc_exit)
  FIELD(oisp_proc_exit, ppid); FIELD(oisp_proc_exit, exit_code); FIELD(oisp_proc_exit, signal);
  STRUCT_END(oisp_proc_exit)
  STRUCT_BEGIN(oisp_file_open)
  FIELD(oisp_file_open, dirfd); FIELD(oisp_file_open, result); FIELD(oisp_file_open, flags);
  FIELD(oisp_file_open, path_len); FIELD(oisp_file_open, path);
  STRUCT_END(oisp_file_open)
  STRUCT_BEGIN(oisp_net_conn)
  FIELD(oisp_net_conn, fd); FIELD(oisp_net_conn, result); FIELD(oisp_net_conn, local);
  FIELD(oisp_net_conn, remote);
  STRUCT_END(oisp_net_conn)
  STRUCT_BEGIN(oisp_go_layout)
  FIELD(oisp_go_layout, tcp_conn_itab); FIELD(oisp_go_layout, conn_data_off);
  FIELD(oisp_go_layout, netconn_fd_off); FIELD(oisp_go_layout, netfd_sysfd_off);
  FIELD(oisp_go_layout, valid);
  STRUCT_END(oisp_go_layout)
  STRUCT_BEGIN(oisp_net_close)
  FIELD(oisp_net_close, fd); FIELD(oisp_net_close, conn_id);
  STRUCT_END(oisp_net_close)
  return out;
}

Napi::Value AbiConstants(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object c = Napi::Object::New(env);
#define CONST(name) c.Set(#name, Napi::Number::New(env, name))
  CONST(OISP_COMM_LEN); CONST(OISP_PATH_MAX); CONST(OISP_ARGS_MAX); CONST(OISP_TLS_CHUNK_MAX);
  CONST(OISP_CAPTURE_LIMIT);
  CONST(OISP_EV_TLS_DATA); CONST(OISP_EV_TLS_BIND); CONST(OISP_EV_PROC_EXEC);
  CONST(OISP_EV_PROC_EXIT); CONST(OISP_EV_FILE_OPEN); CONST(OISP_EV_NET_CONNECT);
  CONST(OISP_EV_NET_ACCEPT); CONST(OISP_EV_NET_CLOSE);
  CONST(OISP_FLAG_TRUNCATED); CONST(OISP_FLAG_READ_FAILED); CONST(OISP_FLAG_STRING_TRUNCATED);
  CONST(OISP_FLAG_AFTER_WRITE);
  CONST(OISP_DIR_WRITE); CONST(OISP_DIR_READ);
  CONST(OISP_FN_SSL_WRITE); CONST(OISP_FN_SSL_READ); CONST(OISP_FN_SSL_WRITE_EX);
  CONST(OISP_FN_SSL_READ_EX); CONST(OISP_FN_GNUTLS_SEND); CONST(OISP_FN_GNUTLS_RECV);
  CONST(OISP_FN_GO_WRITE); CONST(OISP_FN_GO_READ); CONST(OISP_GO_LAYOUTS_MAX);
  CONST(OISP_BIND_IN_CALL); CONST(OISP_BIND_LAST_READ); CONST(OISP_BIND_NEXT_WRITE);
  CONST(OISP_BIND_GO_CONN);
  CONST(OISP_CNT_TLS_RING_FULL); CONST(OISP_CNT_EVENT_RING_FULL); CONST(OISP_CNT_SSL_CALLS_FULL);
  CONST(OISP_CNT_TLS_READ_FAILED); CONST(OISP_CNT_TLS_TRUNCATED); CONST(OISP_CNT_TARGET_PIDS_FULL);
  CONST(OISP_CNT_SYSCALL_ARGS_FULL); CONST(OISP_CNT_GO_CALLS_FULL);
  CONST(OISP_CNT_GO_CONN_UNREADABLE); CONST(OISP_CNT_MAX);
  CONST(OISP_CFG_FILTER); CONST(OISP_CFG_FOLLOW_CHILDREN); CONST(OISP_CFG_FILE_EVENTS);
  CONST(OISP_CFG_NET_EVENTS); CONST(OISP_CFG_PROC_EVENTS);
#undef CONST
  return c;
}

}  // namespace oisp
