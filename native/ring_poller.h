// Drains one BPF ring buffer from the libuv loop: a uv_poll on the ring map's
// fd wakes the loop (and, while a wake-up window is open, a drain timer), every record available is copied into one batch,
// and JS gets one call per wakeup. No thread. The batch is one JS Buffer made
// at start and reused for every call, so delivery allocates nothing: JS must
// copy what it keeps before the call returns (decode.ts does). With a wake-up window (the BPF
// side then wakes us at most once per window), a timerfd drains the ring
// again one window after each drain that found records, and stops when one
// finds none: no record waits much longer than a window, and an idle sensor
// runs no timer.
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>

#include "ring_reader.h"

namespace oisp {

class RingPoller {
 public:
  // Batch layout, per record: u32 size, u32 ring id, the record, zero padding
  // to 8 bytes. JS is called with (buffer, ring id, length): the batch is the
  // first `length` bytes. Records are added until the batch reaches
  // max_batch_bytes (then the next loop turn continues, since the ring's fd
  // stays readable); the buffer has room for one largest record beyond that.
  RingPoller(Napi::Env env, int map_fd, uint32_t ring_id, Napi::Function callback,
             size_t max_batch_bytes, uint32_t window_us);
  ~RingPoller();
  RingPoller(const RingPoller&) = delete;
  RingPoller& operator=(const RingPoller&) = delete;

  void Start();
  // Stops polling and releases the loop handle; idempotent.
  void Stop();
  // Drains synchronously (used at shutdown so nothing captured is lost). Does
  // nothing when called from inside the JS callback, whose batch it would overwrite.
  void Drain();
  // A new window (0: none, the kernel's own wake-ups). The timer is armed
  // again from now: see the comment in the .cc for why it must be.
  void SetWindow(uint32_t window_us);

 private:
  // Appends one record to the batch; false (record not taken) once it is full.
  bool Append(const uint8_t* first, size_t first_len, const uint8_t* second, size_t second_len);
  static void OnReadable(uv_poll_t* handle, int status, int events);
  static void OnTimer(uv_poll_t* handle, int status, int events);
  uv_poll_t* OpenPoll(uv_loop_t* loop, int fd, uv_poll_cb cb);
  // Moves ready records into the batch; true when it stopped because the batch is full.
  bool Fill();
  // Consumes what is available and hands it to JS; true when there was something.
  bool ConsumeAndDeliver();
  void ArmTimer();
  void ArmTimerFor(uint32_t us);
  void DeliverBatch();

  Napi::Env env_;
  uint32_t ring_id_;
  size_t max_batch_bytes_;
  RingReader ring_;
  uv_poll_t* poll_ = nullptr;
  uint32_t window_us_ = 0;
  int timer_fd_ = -1;
  uv_poll_t* timer_poll_ = nullptr;
  bool timer_armed_ = false;
  bool started_ = false;
  bool delivering_ = false;
  Napi::Reference<Napi::Buffer<uint8_t>> batch_ref_;
  uint8_t* batch_ = nullptr;
  size_t batch_capacity_ = 0;
  size_t batch_len_ = 0;
  Napi::FunctionReference callback_;
};

}  // namespace oisp
