#include "bpf_sensor.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include <pthread.h>
#include <csignal>
#include <cerrno>
#include <cstring>
#include <string>

#include "events.h"
#include "libbpf_log.h"
#include "oisp.skel.h"
#include "ring_poller.h"

namespace oisp {
namespace {

// Errors carry errno (so TS can say which capability is missing) and what
// libbpf printed.
Napi::Error LibbpfError(Napi::Env env, const std::string& what, int err) {
  if (err < 0) err = -err;
  std::string msg = what + ": " + strerror(err);
  std::string log = LibbpfLogTail();
  if (!log.empty()) msg += "\nlibbpf: " + log;
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, err));
  return e;
}

uint32_t GetU32(const Napi::Object& o, const char* key, uint32_t fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : fallback;
}

bool StartsWith(const char* s, const char* prefix) {
  return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

}  // namespace

Napi::Function BpfSensor::Init(Napi::Env env) {
  return DefineClass(env, "BpfSensor",
                     {
                         InstanceMethod("load", &BpfSensor::Load),
                         InstanceMethod("attachTracepoints", &BpfSensor::AttachTracepoints),
                         InstanceMethod("attachUprobe", &BpfSensor::AttachUprobe),
                         InstanceMethod("attachUprobeAt", &BpfSensor::AttachUprobeAt),
                         InstanceMethod("setGoLayout", &BpfSensor::SetGoLayout),
                         InstanceMethod("detach", &BpfSensor::Detach),
                         InstanceMethod("setConfigFlags", &BpfSensor::SetConfigFlags),
                         InstanceMethod("setTargetPid", &BpfSensor::SetTargetPid),
                         InstanceMethod("setTargetComm", &BpfSensor::SetTargetComm),
                         InstanceMethod("counters", &BpfSensor::Counters),
                         InstanceMethod("start", &BpfSensor::Start),
                         InstanceMethod("drain", &BpfSensor::Drain),
                         InstanceMethod("setWakeupWindow", &BpfSensor::SetWakeupWindow),
                         InstanceMethod("close", &BpfSensor::Close),
                     });
}

BpfSensor::BpfSensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfSensor>(info) {}

BpfSensor::~BpfSensor() { Destroy(); }

void BpfSensor::Destroy() {
  pollers_.clear();
  for (bpf_link* l : links_)
    if (l) bpf_link__destroy(l);
  links_.clear();
  if (skel_) oisp_bpf__destroy(skel_);
  skel_ = nullptr;
  loaded_ = false;
}

namespace {
// The verifier gives up with EAGAIN when a signal is pending on the loading
// thread, and a sampling profiler (node --cpu-prof) sends SIGPROF to the main
// thread every 100 µs or so, more often than libbpf's few retries allow. So the
// load runs with asynchronous signals held on this thread; they are delivered
// when the mask is restored, and signals meant for the process reach another
// thread meanwhile. Faults (SIGSEGV and co.) stay unblocked.
class AsyncSignalsHeld {
 public:
  AsyncSignalsHeld() {
    sigset_t held;
    sigfillset(&held);
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS}) sigdelset(&held, sig);
    ok_ = pthread_sigmask(SIG_BLOCK, &held, &previous_) == 0;
  }
  ~AsyncSignalsHeld() {
    if (ok_) pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  AsyncSignalsHeld(const AsyncSignalsHeld&) = delete;
  AsyncSignalsHeld& operator=(const AsyncSignalsHeld&) = delete;

 private:
  sigset_t previous_;
  bool ok_ = false;
};
}  // namespace

void BpfSensor::RequireLoaded(Napi::Env env) const {
  if (!loaded_) throw Napi::Error::New(env, "the BPF object is not loaded");
}

// load({ selfPid, maxCaptureBytes, tlsRingBytes, eventRingBytes, wakeupWindowUs,
//        maxInflightCalls, maxFollowedPids })
Napi::Value BpfSensor::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (skel_) throw Napi::Error::New(env, "already loaded");
  Napi::Object opts = info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  ClearLibbpfLog();
  skel_ = oisp_bpf__open();
  if (!skel_) throw LibbpfError(env, "cannot open the BPF object", errno);
  skel_->rodata->self_pid = GetU32(opts, "selfPid", 0);
  skel_->rodata->max_capture_bytes = GetU32(opts, "maxCaptureBytes", 256 * 1024);
  wakeup_window_us_ = GetU32(opts, "wakeupWindowUs", 0);
  skel_->bss->wakeup_window_ns = static_cast<uint64_t>(wakeup_window_us_) * 1000;
  int err = bpf_map__set_max_entries(skel_->maps.tls_ring, GetU32(opts, "tlsRingBytes", 8u << 20));
  if (!err)
    err = bpf_map__set_max_entries(skel_->maps.event_ring, GetU32(opts, "eventRingBytes", 1u << 20));
  if (err) {
    Destroy();
    throw LibbpfError(env, "cannot size the ring buffers", err);
  }
  // The in-flight tables (one entry per thread or goroutine inside a call)
  // and the followed processes: bounded, a full one is counted.
  uint32_t inflight = GetU32(opts, "maxInflightCalls", 16384);
  for (bpf_map* m : {skel_->maps.ssl_calls_by_tid, skel_->maps.go_calls_by_g,
                     skel_->maps.open_args_by_tid, skel_->maps.connect_args_by_tid})
    if (!err) err = bpf_map__set_max_entries(m, inflight);
  if (!err) err = bpf_map__set_max_entries(skel_->maps.target_pids, GetU32(opts, "maxFollowedPids", 65536));
  if (err) {
    Destroy();
    throw LibbpfError(env, "cannot size the in-flight and target_pids tables", err);
  }
  {
    AsyncSignalsHeld held;
    err = oisp_bpf__load(skel_);
  }
  if (err) {
    Napi::Error e = LibbpfError(env, "cannot load the BPF programs", err);
    Destroy();
    throw e;
  }
  loaded_ = true;
  return env.Undefined();
}

// Attaches every tracepoint program; one failure does not stop the others.
// Returns [{ program, section, ok, error? }].
Napi::Value BpfSensor::AttachTracepoints(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env);
  Napi::Array out = Napi::Array::New(env);
  bpf_program* prog;
  uint32_t i = 0;
  bpf_object__for_each_program(prog, skel_->obj) {
    const char* sec = bpf_program__section_name(prog);
    if (!StartsWith(sec, "tracepoint/") && !StartsWith(sec, "tp_btf/")) continue;
    Napi::Object r = Napi::Object::New(env);
    r.Set("program", bpf_program__name(prog));
    r.Set("section", sec);
    ClearLibbpfLog();
    bpf_link* link = bpf_program__attach(prog);
    if (link) {
      links_.push_back(link);
      r.Set("ok", true);
    } else {
      int err = errno;
      r.Set("ok", false);
      r.Set("errno", err);
      r.Set("error", std::string(strerror(err)) + " " + LibbpfLogTail());
    }
    out.Set(i++, r);
  }
  return out;
}

// Attaches `prog_name` at `offset` in `path` with `opts`; `what` names the
// place in the error ("to SSL_write", "at offset 1234"). Returns the link id.
Napi::Value BpfSensor::AttachAt(Napi::Env env, const std::string& prog_name, const std::string& path,
                                size_t offset, const bpf_uprobe_opts* opts, const std::string& what) {
  bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, prog_name.c_str());
  if (!prog) throw Napi::Error::New(env, "no BPF program named " + prog_name);
  ClearLibbpfLog();
  bpf_link* link = bpf_program__attach_uprobe_opts(prog, -1, path.c_str(), offset, opts);
  if (!link) throw LibbpfError(env, "cannot attach " + prog_name + " " + what + " in " + path, errno);
  links_.push_back(link);
  return Napi::Number::New(env, static_cast<double>(links_.size() - 1));
}

// attachUprobe(program, path, symbol, retprobe) -> link id
Napi::Value BpfSensor::AttachUprobe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env);
  std::string prog_name = info[0].As<Napi::String>();
  std::string path = info[1].As<Napi::String>();
  std::string symbol = info[2].As<Napi::String>();
  bool retprobe = info[3].ToBoolean();
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe, .func_name = symbol.c_str());
  return AttachAt(env, prog_name, path, 0, &opts, "to " + symbol);
}

// attachUprobeAt(program, path, fileOffset, cookie) -> link id: a plain uprobe
// at an instruction (Go RET sites have no symbol); the cookie reaches the
// program through bpf_get_attach_cookie.
Napi::Value BpfSensor::AttachUprobeAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env);
  std::string prog_name = info[0].As<Napi::String>();
  std::string path = info[1].As<Napi::String>();
  int64_t offset = info[2].As<Napi::Number>().Int64Value();
  int64_t cookie = info[3].As<Napi::Number>().Int64Value();
  if (offset < 0) throw Napi::Error::New(env, "negative uprobe offset");
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = static_cast<__u64>(cookie));
  return AttachAt(env, prog_name, path, static_cast<size_t>(offset), &opts, "at offset " + std::to_string(offset));
}

// setGoLayout(index, { tcpConnItab: bigint, connDataOff, netconnFdOff, netfdSysfdOff })
Napi::Value BpfSensor::SetGoLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env);
  uint32_t index = info[0].As<Napi::Number>().Uint32Value();
  Napi::Object o = info[1].As<Napi::Object>();
  bool lossless = true;
  oisp_go_layout layout = {};
  layout.tcp_conn_itab = o.Get("tcpConnItab").As<Napi::BigInt>().Uint64Value(&lossless);
  layout.conn_data_off = o.Get("connDataOff").As<Napi::Number>().Uint32Value();
  layout.netconn_fd_off = o.Get("netconnFdOff").As<Napi::Number>().Uint32Value();
  layout.netfd_sysfd_off = o.Get("netfdSysfdOff").As<Napi::Number>().Uint32Value();
  layout.valid = 1;
  int err = bpf_map__update_elem(skel_->maps.go_layouts, &index, sizeof(index), &layout,
                                 sizeof(layout), BPF_ANY);
  if (err) throw LibbpfError(env, "cannot set go_layouts[" + std::to_string(index) + "]", err);
  return env.Undefined();
}

Napi::Value BpfSensor::Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  if (id < links_.size() && links_[id]) {
    bpf_link__destroy(links_[id]);
    links_[id] = nullptr;
  }
  return env.Undefined();
}

Napi::Value BpfSensor::SetConfigFlags(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env);
  uint32_t key = 0;
  uint32_t flags = info[0].As<Napi::Number>().Uint32Value();
  int err = bpf_map__update_elem(skel_->maps.config_flags, &key, sizeof(key), &flags,
                                 sizeof(flags), BPF_ANY);
  if (err) throw LibbpfError(env, "cannot set config flags", err);
  return env.Undefined();
}

// setTargetPid(pid, present)
Napi::Value BpfSensor::SetTargetPid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env);
  uint32_t pid = info[0].As<Napi::Number>().Uint32Value();
  bool present = info[1].ToBoolean();
  int err;
  if (present) {
    uint8_t configured = 1;
    err = bpf_map__update_elem(skel_->maps.target_pids, &pid, sizeof(pid), &configured,
                               sizeof(configured), BPF_ANY);
  } else {
    err = bpf_map__delete_elem(skel_->maps.target_pids, &pid, sizeof(pid), 0);
    if (err == -ENOENT) err = 0;
  }
  if (err) throw LibbpfError(env, "cannot update target_pids", err);
  return env.Undefined();
}

// setTargetComm(comm, present): the key is the kernel's comm, NUL-padded.
Napi::Value BpfSensor::SetTargetComm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env);
  std::string comm = info[0].As<Napi::String>();
  bool present = info[1].ToBoolean();
  char key[OISP_COMM_LEN] = {};
  strncpy(key, comm.c_str(), OISP_COMM_LEN - 1);
  int err;
  if (present) {
    uint8_t one = 1;
    err = bpf_map__update_elem(skel_->maps.target_comms, key, sizeof(key), &one, sizeof(one),
                               BPF_ANY);
  } else {
    err = bpf_map__delete_elem(skel_->maps.target_comms, key, sizeof(key), 0);
    if (err == -ENOENT) err = 0;
  }
  if (err) throw LibbpfError(env, "cannot update target_comms", err);
  return env.Undefined();
}

// counters() -> number[OISP_CNT_MAX], summed over CPUs
Napi::Value BpfSensor::Counters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env);
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) throw LibbpfError(env, "cannot count CPUs", ncpu);
  std::vector<uint64_t> values(ncpu);
  Napi::Array out = Napi::Array::New(env, OISP_CNT_MAX);
  for (uint32_t k = 0; k < OISP_CNT_MAX; k++) {
    int err = bpf_map__lookup_elem(skel_->maps.counters, &k, sizeof(k), values.data(),
                                   values.size() * sizeof(uint64_t), 0);
    if (err) throw LibbpfError(env, "cannot read counters", err);
    uint64_t sum = 0;
    for (uint64_t v : values) sum += v;
    out.Set(k, Napi::Number::New(env, static_cast<double>(sum)));
  }
  return out;
}

// start(callback(batch: Buffer, ring: number), maxBatchBytes)
Napi::Value BpfSensor::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env);
  if (!pollers_.empty()) throw Napi::Error::New(env, "already started");
  Napi::Function cb = info[0].As<Napi::Function>();
  size_t max_batch = info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : (4u << 20);
  pollers_.push_back(std::make_unique<RingPoller>(env, bpf_map__fd(skel_->maps.tls_ring), 0, cb,
                                                  max_batch, wakeup_window_us_));
  pollers_.push_back(std::make_unique<RingPoller>(env, bpf_map__fd(skel_->maps.event_ring), 1,
                                                  cb, max_batch, wakeup_window_us_));
  for (auto& p : pollers_) p->Start();
  return env.Undefined();
}

// setWakeupWindow(us): the window from now on, for the BPF side and the drain
// timers; 0: none (the kernel wakes the sensor whenever it has caught up).
Napi::Value BpfSensor::SetWakeupWindow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLoaded(env);
  uint32_t us = info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 0;
  wakeup_window_us_ = us;
  skel_->bss->wakeup_window_ns = static_cast<uint64_t>(us) * 1000;
  for (auto& p : pollers_) p->SetWindow(us);
  return env.Undefined();
}

Napi::Value BpfSensor::Drain(const Napi::CallbackInfo& info) {
  for (auto& p : pollers_) p->Drain();
  return info.Env().Undefined();
}

Napi::Value BpfSensor::Close(const Napi::CallbackInfo& info) {
  Destroy();
  return info.Env().Undefined();
}

}  // namespace oisp
