// The loaded eBPF object as a JS class: load, attach/detach probes, filter
// maps, counters, ring pollers, close. Mechanism only: what a record means is
// decided in TypeScript.
#pragma once
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

struct oisp_bpf;
struct bpf_link;
struct bpf_uprobe_opts;

namespace oisp {

class RingPoller;

class BpfSensor : public Napi::ObjectWrap<BpfSensor> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit BpfSensor(const Napi::CallbackInfo& info);
  ~BpfSensor() override;

 private:
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value AttachTracepoints(const Napi::CallbackInfo& info);
  Napi::Value AttachUprobe(const Napi::CallbackInfo& info);
  Napi::Value AttachUprobeAt(const Napi::CallbackInfo& info);
  Napi::Value SetGoLayout(const Napi::CallbackInfo& info);
  Napi::Value Detach(const Napi::CallbackInfo& info);
  Napi::Value SetConfigFlags(const Napi::CallbackInfo& info);
  Napi::Value SetTargetPid(const Napi::CallbackInfo& info);
  Napi::Value SetTargetComm(const Napi::CallbackInfo& info);
  Napi::Value Counters(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Drain(const Napi::CallbackInfo& info);
  Napi::Value SetWakeupWindow(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  Napi::Value AttachAt(Napi::Env env, const std::string& prog_name, const std::string& path, size_t offset,
                       const bpf_uprobe_opts* opts, const std::string& what);
  void RequireLoaded(Napi::Env env) const;
  void Destroy();

  ::oisp_bpf* skel_ = nullptr;
  bool loaded_ = false;
  uint32_t wakeup_window_us_ = 0;
  std::vector<bpf_link*> links_;  // index = link id; nullptr once detached
  std::vector<std::unique_ptr<RingPoller>> pollers_;
};

}  // namespace oisp
