// Entry point: registers exports only; the mechanism lives in the classes.
#include <malloc.h>
#include <napi.h>
#include <sched.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "abi_layout.h"
#include "bpf_sensor.h"
#include "libbpf_log.h"

namespace {

// trimMalloc(): returns freed heap pages to the kernel; true when some were.
Napi::Value TrimMalloc(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
}

// setRealtimePriority(priority): SCHED_FIFO at `priority` (1-99) for the calling
// thread only (the JS thread that reads the rings), reset on fork so that no
// thread or child started later inherits it. Throws with the errno text.
Napi::Value SetRealtimePriority(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "setRealtimePriority(priority: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  sched_param param{};
  param.sched_priority = info[0].As<Napi::Number>().Int32Value();
  if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &param) != 0) {
    int err = errno;
    Napi::Error e = Napi::Error::New(env, std::string(strerror(err)));
    e.Set("errno", Napi::Number::New(env, err));
    e.ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  oisp::InstallLibbpfLog();
  exports.Set("BpfSensor", oisp::BpfSensor::Init(env));
  exports.Set("abiLayout", Napi::Function::New(env, oisp::AbiLayout));
  exports.Set("abiConstants", Napi::Function::New(env, oisp::AbiConstants));
  exports.Set("trimMalloc", Napi::Function::New(env, TrimMalloc));
  exports.Set("setRealtimePriority", Napi::Function::New(env, SetRealtimePriority));
  return exports;
}

}  // namespace

NODE_API_MODULE(oisp_native, Init)
