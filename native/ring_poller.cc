#include "ring_poller.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "libbpf_log.h"

namespace oisp {

RingPoller::RingPoller(Napi::Env env, int map_fd, uint32_t ring_id, Napi::Function callback,
                       size_t max_batch_bytes)
    : env_(env), ring_id_(ring_id), max_batch_bytes_(max_batch_bytes) {
  ClearLibbpfLog();
  rb_ = ring_buffer__new(map_fd, OnSample, this, nullptr);
  if (!rb_) {
    int err = errno;
    throw Napi::Error::New(env, std::string("cannot open BPF ring buffer: ") + strerror(err) +
                                    " " + LibbpfLogTail());
  }
  callback_ = Napi::Persistent(callback);
  batch_.reserve(64 * 1024);
}

RingPoller::~RingPoller() {
  Stop();
  if (rb_) ring_buffer__free(rb_);
}

void RingPoller::Start() {
  if (started_) return;
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env_, &loop);
  poll_ = new uv_poll_t;
  int rc = uv_poll_init(loop, poll_, ring_buffer__epoll_fd(rb_));
  if (rc != 0) {
    delete poll_;
    poll_ = nullptr;
    throw Napi::Error::New(env_, std::string("uv_poll_init failed: ") + uv_strerror(rc));
  }
  poll_->data = this;
  rc = uv_poll_start(poll_, UV_READABLE, OnReadable);
  if (rc != 0) throw Napi::Error::New(env_, std::string("uv_poll_start failed: ") + uv_strerror(rc));
  started_ = true;
}

void RingPoller::Stop() {
  if (!poll_) return;
  uv_poll_stop(poll_);
  poll_->data = nullptr;
  // The handle is freed in the close callback, once libuv is done with it.
  uv_close(reinterpret_cast<uv_handle_t*>(poll_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  poll_ = nullptr;
  started_ = false;
}

int RingPoller::OnSample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<RingPoller*>(ctx);
  uint32_t head[2] = {static_cast<uint32_t>(size), self->ring_id_};
  size_t padded = (size + 7) & ~static_cast<size_t>(7);
  size_t at = self->batch_.size();
  self->batch_.resize(at + sizeof(head) + padded, 0);
  memcpy(self->batch_.data() + at, head, sizeof(head));
  memcpy(self->batch_.data() + at + sizeof(head), data, size);
  // A negative return stops this consume() call; the record is already taken.
  return self->batch_.size() >= self->max_batch_bytes_ ? -E2BIG : 0;
}

void RingPoller::OnReadable(uv_poll_t* handle, int status, int /*events*/) {
  auto* self = static_cast<RingPoller*>(handle->data);
  if (!self || status < 0) return;
  ring_buffer__consume(self->rb_);
  self->DeliverBatch();
}

void RingPoller::Drain() {
  while (true) {
    int n = ring_buffer__consume(rb_);
    if (batch_.empty()) break;
    DeliverBatch();
    if (n >= 0) break;
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
