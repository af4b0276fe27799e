#include "ring_poller.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace oisp {

RingPoller::RingPoller(Napi::Env env, int map_fd, uint32_t ring_id, Napi::Function callback,
                       size_t max_batch_bytes, uint32_t window_us)
    : env_(env), ring_id_(ring_id), max_batch_bytes_(max_batch_bytes), ring_(env, map_fd), window_us_(window_us) {
  callback_ = Napi::Persistent(callback);
  batch_.reserve(64 * 1024);
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
  if (window_us_ == 0) return;
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
  uint32_t head[2] = {static_cast<uint32_t>(size), ring_id_};
  static const uint8_t kZeros[8] = {};
  const auto* h = reinterpret_cast<const uint8_t*>(head);
  // Appended, not resized then overwritten: no zero fill of every record's bytes.
  batch_.insert(batch_.end(), h, h + sizeof(head));
  batch_.insert(batch_.end(), first, first + first_len);
  batch_.insert(batch_.end(), second, second + second_len);
  batch_.insert(batch_.end(), kZeros, kZeros + (((size + 7) & ~static_cast<size_t>(7)) - size));
  return batch_.size() < max_batch_bytes_;
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
  if (batch_.empty()) return false;
  DeliverBatch();
  return true;
}

// The BPF side holds a record without a wake-up while the last forced one is
// less than a window old; a drain timer that finds nothing and stops must
// therefore fire no earlier than that wake-up plus the window. With one fixed
// window that holds by construction (the timer is armed at a drain, after the
// wake-up). When the window widens, an armed timer may fire too early, and a
// stopped one would leave records held since the last wake-up stranded until
// some later record forces one: so every change re-arms it from now.
void RingPoller::SetWindow(uint32_t window_us) {
  window_us_ = window_us;
  timer_armed_ = false;
  ArmTimer();
}

void RingPoller::ArmTimer() {
  if (timer_fd_ < 0 || timer_armed_) return;
  itimerspec its = {};
  its.it_value.tv_sec = window_us_ / 1000000;
  its.it_value.tv_nsec = static_cast<long>(window_us_ % 1000000) * 1000;
  if (timerfd_settime(timer_fd_, 0, &its, nullptr) == 0) timer_armed_ = true;
}

void RingPoller::Drain() {
  while (true) {
    bool full = Fill();
    if (batch_.empty()) break;
    DeliverBatch();
    if (!full) break;
  }
}

void RingPoller::DeliverBatch() {
  if (batch_.empty()) return;
  Napi::HandleScope scope(env_);
  Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::Copy(env_, batch_.data(), batch_.size());
  batch_.clear();
  try {
    callback_.MakeCallback(env_.Global(), {buf, Napi::Number::New(env_, ring_id_)});
  } catch (const Napi::Error& e) {
    // The JS side catches its own errors; anything escaping is a bug that
    // must surface as an uncaught exception, not vanish here.
    napi_fatal_exception(env_, e.Value());
  }
}

}  // namespace oisp
