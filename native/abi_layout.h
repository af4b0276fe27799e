#pragma once
#include <napi.h>

namespace oisp {

// { structName: { size, fields: { name: offset } } } for bpf/events.h
Napi::Value AbiLayout(const Napi::CallbackInfo& info);
// Every enum and size constant of bpf/events.h by name.
Napi::Value AbiConstants(const Napi::CallbackInfo& info);

}  // namespace oisp
