#include "libbpf_log.h"

#include <bpf/libbpf.h>
#include <cstdarg>
#include <cstdio>
#include <string>

namespace oisp {
namespace {

constexpr size_t kMaxLog = 16384;
std::string g_log;  // libbpf calls back on the JS thread only

int OnLibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n <= 0) return 0;
  // The verifier log arrives as one long message whose end says what failed.
  std::string line(static_cast<size_t>(n) + 1, '\0');
  vsnprintf(line.data(), line.size(), fmt, args);
  line.resize(static_cast<size_t>(n));
  g_log += line;
  if (g_log.size() > kMaxLog) g_log.erase(0, g_log.size() - kMaxLog);
  return 0;
}

}  // namespace

void InstallLibbpfLog() { libbpf_set_print(OnLibbpfPrint); }
void ClearLibbpfLog() { g_log.clear(); }
std::string LibbpfLogTail() { return g_log; }

}  // namespace oisp
