#include "ring_poller.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "events.h"

namespace oisp {

namespace {
// Room beyond max_batch_bytes for the record that crosses it: the largest the
// BPF side writes is a TLS chunk (the fixed part and OISP_TLS_CHUNK_MAX bytes),
// plus the batch frame and padding.
constexpr size_t kFrameBytes = 8;
constexpr size_t kLargestRecord = sizeof(struct oisp_tls_data) + OISP_TLS_CHUNK_MAX;
static_assert(sizeof(struct oisp_proc_exec) <= kLargestRecord, "exec records fit the batch slack");
static_assert(sizeof(struct oisp_file_open) <= kLargestRecord, "file records fit the batch slack");
constexpr size_t kSlackBytes = kFrameBytes + kLargestRecord + 8;
}  // namespace

RingPoller::RingPoller(Napi::Env env, int map_fd, uint32_t ring_id, Napi::Function callback,
                       size_t max_batch_bytes, uint32_t window_us)
    : env_(env), ring_id_(ring_id), max_batch_bytes_(max_batch_bytes), ring_(env, map_fd), window_us_(window_us) {
  callback_ = Napi::Persistent(callback);
  batch_capacity_ = max_batch_bytes + kSlackBytes;
  Napi::Buffer<uint8_t> batch = Napi::Buffer<uint8_t>::New(env, batch_capacity_);
  batch_ = batch.Data();
  batch_ref_ = Napi::Persistent(batch);
}

RingPoller::~RingPoller() { Stop(); }

namespace {
// Stops and frees a poll handle once libuv is done with it, then closes
// `owned_fd` (-1: none): libuv must stop watching an fd before it is closed.
void ClosePoll(uv_poll_t* p, int owned_fd) {
  uv_poll_stop(p);
  p->data = reinterpret_cast<void*>(static_cast<intptr_t>(owned_fd));
  uv_close(reinterpret_cast<uv_handle_t*>(p), [](uv_handle_t* h) {
    int fd = static_cast<int>(reinterpret_cast<intptr_t>(h->data));
    if (fd >= 0) close(fd);
    delete reinterpret_cast<uv_poll_t*>(h);
  });
}
}  // namespace

// A started poll handle on `fd` whose data is `self`; throws (and frees it) on failure.
uv_poll_t* RingPoller::OpenPoll(uv_loop_t* loop, int fd, uv_poll_cb cb) {
  auto* p = new uv_poll_t;
  int rc = uv_poll_init(loop, p, fd);
  if (rc != 0) {
    delete p;
    throw Napi::Error::New(env_, std::string("uv_poll_init failed: ") + uv_strerror(rc));
  }
  p->data = this;
  rc = uv_poll_start(p, UV_READABLE, cb);
  if (rc != 0) {
    ClosePoll(p, -1);
    throw Napi::Error::New(env_, std::string("uv_poll_start failed: ") + uv_strerror(rc));
  }
  return p;
}

void RingPoller::Start() {
  if (started_) return;
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env_, &loop);
  poll_ = OpenPoll(loop, ring_.fd(), OnReadable);
  started_ = true;
  // Made even with no window: moderation may open one later.
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd_ < 0) throw Napi::Error::New(env_, std::string("timerfd_create failed: ") + strerror(errno));
  timer_poll_ = OpenPoll(loop, timer_fd_, OnTimer);
}

void RingPoller::Stop() {
  if (timer_poll_) {
    ClosePoll(timer_poll_, timer_fd_);
    timer_poll_ = nullptr;
    timer_fd_ = -1;
  } else if (timer_fd_ >= 0) {
    close(timer_fd_);
    timer_fd_ = -1;
  }
  timer_armed_ = false;
  if (!poll_) return;
  ClosePoll(poll_, -1);  // the map fd belongs to the BPF object
  poll_ = nullptr;
  started_ = false;
}

bool RingPoller::Append(const uint8_t* first, size_t first_len, const uint8_t* second, size_t second_len) {
  size_t size = first_len + second_len;
  size_t padded = (size + 7) & ~static_cast<size_t>(7);
  if (batch_len_ >= max_batch_bytes_) return false;
  if (batch_len_ + kFrameBytes + padded > batch_capacity_) {
    // Larger than the BPF side ever writes (see kLargestRecord): taking it
    // would overflow, leaving it would stall the ring. Dropped.
    return batch_len_ == 0;
  }
  uint8_t* at = batch_ + batch_len_;
  uint32_t head[2] = {static_cast<uint32_t>(size), ring_id_};
  memcpy(at, head, sizeof(head));
  memcpy(at + kFrameBytes, first, first_len);
  if (second_len) memcpy(at + kFrameBytes + first_len, second, second_len);
  memset(at + kFrameBytes + size, 0, padded - size);
  batch_len_ += kFrameBytes + padded;
  return true;
}

void RingPoller::OnReadable(uv_poll_t* handle, int status, int /*events*/) {
  auto* self = static_cast<RingPoller*>(handle->data);
  if (!self || status < 0) return;
  if (self->ConsumeAndDeliver()) self->ArmTimer();
}

void RingPoller::OnTimer(uv_poll_t* handle, int status, int /*events*/) {
  auto* self = static_cast<RingPoller*>(handle->data);
  if (!self || status < 0) return;
  uint64_t expirations;
  while (read(self->timer_fd_, &expirations, sizeof(expirations)) > 0) {
  }
  self->timer_armed_ = false;
  // Records kept coming: look again in one window. None: the next record wakes us.
  if (self->ConsumeAndDeliver()) self->ArmTimer();
}

bool RingPoller::Fill() {
  return ring_.Consume([this](const uint8_t* a, size_t an, const uint8_t* b, size_t bn) { return Append(a, an, b, bn); });
}

bool RingPoller::ConsumeAndDeliver() {
  Fill();
  if (batch_len_ == 0) return false;
  DeliverBatch();
  return true;
}

// The BPF side holds a record without a wake-up while the last forced one is
// less than a window old; a drain timer that finds nothing and stops must
// therefore fire no earlier than that wake-up plus the window. With one fixed
// window that holds by construction (the timer is armed at a drain, after the
// wake-up). When the window widens, an armed timer may fire too early, and a
// stopped one would leave records held since the last wake-up stranded until
// some later record forces one: so every change re-arms it from now. When the
// window closes (0: the kernel's own wake-ups, which come only once the
// consumer has caught up), records held under the old window would keep it
// from ever catching up: the timer runs once more, for the old window.
void RingPoller::SetWindow(uint32_t window_us) {
  uint32_t arm_for = window_us ? window_us : window_us_;
  window_us_ = window_us;
  timer_armed_ = false;
  ArmTimerFor(arm_for);
}

void RingPoller::ArmTimer() { ArmTimerFor(window_us_); }

void RingPoller::ArmTimerFor(uint32_t us) {
  if (timer_fd_ < 0 || timer_armed_ || us == 0) return;
  itimerspec its = {};
  its.it_value.tv_sec = us / 1000000;
  its.it_value.tv_nsec = static_cast<long>(us % 1000000) * 1000;
  if (timerfd_settime(timer_fd_, 0, &its, nullptr) == 0) timer_armed_ = true;
}

void RingPoller::Drain() {
  if (delivering_) return;
  while (true) {
    bool full = Fill();
    if (batch_len_ == 0) break;
    DeliverBatch();
    if (!full) break;
  }
}

void RingPoller::DeliverBatch() {
  if (batch_len_ == 0) return;
  Napi::HandleScope scope(env_);
  size_t len = batch_len_;
  batch_len_ = 0;
  delivering_ = true;
  try {
    callback_.MakeCallback(env_.Global(), {batch_ref_.Value(), Napi::Number::New(env_, ring_id_),
                                           Napi::Number::New(env_, static_cast<double>(len))});
  } catch (const Napi::Error& e) {
    // The JS side catches its own errors; anything escaping is a bug that
    // must surface as an uncaught exception, not vanish here.
    napi_fatal_exception(env_, e.Value());
  }
  delivering_ = false;
}

}  // namespace oisp
