// Drains one BPF ring buffer from the libuv loop: a uv_poll on the ring's
// epoll fd wakes the loop, every record available is copied into one batch,
// and JS gets one call per wakeup. No timer, no thread.
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <vector>

struct ring_buffer;

namespace oisp {

class RingPoller {
 public:
  // Batch layout, per record: u32 size, u32 ring id, the record, zero padding
  // to 8 bytes. A batch holds at most max_batch_bytes (then the next loop
  // turn continues, since the epoll fd stays readable).
  RingPoller(Napi::Env env, int map_fd, uint32_t ring_id, Napi::Function callback,
             size_t max_batch_bytes);
  ~RingPoller();
  RingPoller(const RingPoller&) = delete;
  RingPoller& operator=(const RingPoller&) = delete;

  void Start();
  // Stops polling and releases the loop handle; idempotent.
  void Stop();
  // Drains synchronously (used at shutdown so nothing captured is lost).
  void Drain();

 private:
  static int OnSample(void* ctx, void* data, size_t size);
  static void OnReadable(uv_poll_t* handle, int status, int events);
  void DeliverBatch();

  Napi::Env env_;
  uint32_t ring_id_;
  size_t max_batch_bytes_;
  ring_buffer* rb_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  bool started_ = false;
  std::vector<uint8_t> batch_;
  Napi::FunctionReference callback_;
};

}  // namespace oisp
