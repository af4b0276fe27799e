#include "ring_reader.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace oisp {

namespace {
Napi::Error RingError(Napi::Env env, const std::string& what, int err) {
  return Napi::Error::New(env, "cannot open BPF ring buffer: " + what + ": " + strerror(err));
}
}  // namespace

RingReader::RingReader(Napi::Env env, int map_fd) : map_fd_(map_fd) {
  bpf_map_info info = {};
  uint32_t info_len = sizeof(info);
  if (bpf_obj_get_info_by_fd(map_fd, &info, &info_len) != 0) throw RingError(env, "map info", errno);
  if (info.type != BPF_MAP_TYPE_RINGBUF) throw RingError(env, "map type", EINVAL);
  uint64_t size = info.max_entries;
  // The kernel only creates rings of a power-of-two number of pages.
  if (size == 0 || (size & (size - 1)) != 0) throw RingError(env, "ring size", EINVAL);
  page_size_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  mask_ = size - 1;

  consumer_page_ = mmap(nullptr, page_size_, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
  if (consumer_page_ == MAP_FAILED) {
    consumer_page_ = nullptr;
    throw RingError(env, "mmap of the consumer page", errno);
  }
  // The producer page, then the data pages once (the kernel's mapping would
  // allow them twice; see the header).
  producer_map_bytes_ = page_size_ + static_cast<size_t>(size);
  producer_map_ = mmap(nullptr, producer_map_bytes_, PROT_READ, MAP_SHARED, map_fd,
                       static_cast<off_t>(page_size_));
  if (producer_map_ == MAP_FAILED) {
    int err = errno;
    producer_map_ = nullptr;
    munmap(consumer_page_, page_size_);
    consumer_page_ = nullptr;
    throw RingError(env, "mmap of the data pages", err);
  }
  consumer_pos_ = static_cast<uint64_t*>(consumer_page_);
  producer_pos_ = static_cast<const uint64_t*>(producer_map_);
  data_ = static_cast<const uint8_t*>(producer_map_) + page_size_;
}

RingReader::~RingReader() {
  if (producer_map_) munmap(producer_map_, producer_map_bytes_);
  if (consumer_page_) munmap(consumer_page_, page_size_);
}

}  // namespace oisp
