// Entry point: registers exports only; the mechanism lives in the classes.
#include <malloc.h>
#include <napi.h>

#include "abi_layout.h"
#include "bpf_sensor.h"
#include "libbpf_log.h"

namespace {

// trimMalloc(): returns freed heap pages to the kernel; true when some were.
Napi::Value TrimMalloc(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  oisp::InstallLibbpfLog();
  exports.Set("BpfSensor", oisp::BpfSensor::Init(env));
  exports.Set("abiLayout", Napi::Function::New(env, oisp::AbiLayout));
  exports.Set("abiConstants", Napi::Function::New(env, oisp::AbiConstants));
  exports.Set("trimMalloc", Napi::Function::New(env, TrimMalloc));
  return exports;
}

}  // namespace

NODE_API_MODULE(oisp_native, Init)
