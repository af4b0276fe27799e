// Entry point: registers exports only; the mechanism lives in the classes.
#include <napi.h>

#include "abi_layout.h"
#include "bpf_sensor.h"
#include "libbpf_log.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  oisp::InstallLibbpfLog();
  exports.Set("BpfSensor", oisp::BpfSensor::Init(env));
  exports.Set("abiLayout", Napi::Function::New(env, oisp::AbiLayout));
  exports.Set("abiConstants", Napi::Function::New(env, oisp::AbiConstants));
  return exports;
}

}  // namespace

NODE_API_MODULE(oisp_native, Init)
