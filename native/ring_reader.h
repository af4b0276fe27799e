// Reads one BPF ring buffer map (BPF_MAP_TYPE_RINGBUF) through a single
// mapping of its data pages. libbpf's ring_buffer maps the data area twice in a
// row so that a record crossing the end reads as one piece; the kernel inserts
// every page of a mapping at mmap time, so each ring then counted twice in the
// sensor's RSS (16 MiB for the default 8 MiB TLS ring). Every record is copied
// into a batch anyway, so a record that wraps is simply copied in two parts.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace oisp {

class RingReader {
 public:
  // Maps the ring behind `map_fd` (which stays owned by the caller); throws a
  // Napi::Error naming the failing step.
  RingReader(Napi::Env env, int map_fd);
  ~RingReader();
  RingReader(const RingReader&) = delete;
  RingReader& operator=(const RingReader&) = delete;

  // The fd to poll for readability: the map's own (the kernel's ring poll says
  // readable while records wait), so no epoll fd of our own is needed.
  int fd() const { return map_fd_; }

  // Hands every committed record to on_record(first, first_len, second,
  // second_len) in order — `second` is non-empty only for a record that wraps
  // past the end of the data area — and frees the space of each one it takes.
  // Stops at a record still being written, or at one on_record does not take
  // (returns false), which stays in the ring for the next call. Returns true
  // when it stopped because a record was not taken.
  template <typename OnRecord>
  bool Consume(OnRecord&& on_record);

 private:
  // Kernel ABI (uapi bpf.h): each record starts with an 8-byte header whose
  // first u32 is the length of the data, plus these flags while it is being
  // written or after it was discarded; records are 8-byte aligned.
  static constexpr uint32_t kBusyBit = 1u << 31;
  static constexpr uint32_t kDiscardBit = 1u << 30;
  static constexpr uint64_t kHeaderBytes = 8;

  int map_fd_;
  size_t page_size_ = 0;
  uint64_t mask_ = 0;
  void* consumer_page_ = nullptr;  // read-write: the consumer position
  void* producer_map_ = nullptr;   // read-only: the producer position, then the data pages once
  size_t producer_map_bytes_ = 0;
  uint64_t* consumer_pos_ = nullptr;
  const uint64_t* producer_pos_ = nullptr;
  const uint8_t* data_ = nullptr;
};

template <typename OnRecord>
bool RingReader::Consume(OnRecord&& on_record) {
  // The positions are shared with the kernel: acquire loads see a record's
  // bytes after its committed header; the release store tells the producer
  // the space may be reused only after we are done copying it.
  auto load = [](const void* p) {
    return __atomic_load_n(static_cast<const uint64_t*>(p), __ATOMIC_ACQUIRE);
  };
  uint64_t cons = load(consumer_pos_);
  uint64_t size = mask_ + 1;
  for (;;) {
    uint64_t prod = load(producer_pos_);
    if (cons >= prod) return false;
    while (cons < prod) {
      const auto* header = reinterpret_cast<const uint32_t*>(data_ + (cons & mask_));
      uint32_t len = __atomic_load_n(header, __ATOMIC_ACQUIRE);
      if (len & kBusyBit) return false;
      uint64_t bytes = len & ~(kBusyBit | kDiscardBit);
      uint64_t start = (cons + kHeaderBytes) & mask_;
      if (!(len & kDiscardBit)) {
        uint64_t first = bytes <= size - start ? bytes : size - start;
        if (!on_record(data_ + start, static_cast<size_t>(first), data_, static_cast<size_t>(bytes - first)))
          return true;
      }
      cons += (bytes + kHeaderBytes + 7) & ~uint64_t{7};
      __atomic_store_n(consumer_pos_, cons, __ATOMIC_RELEASE);
    }
  }
}

}  // namespace oisp
