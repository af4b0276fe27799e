// Collects libbpf's messages so a failure can carry them in its JS Error
// instead of printing to stdout/stderr.
#pragma once
#include <string>

namespace oisp {

void InstallLibbpfLog();
void ClearLibbpfLog();
// The tail of what libbpf said since the last ClearLibbpfLog().
std::string LibbpfLogTail();

}  // namespace oisp
