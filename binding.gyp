{
  "targets": [
    {
      "target_name": "oisp_native",
      "sources": [
        "native/addon.cc",
        "native/abi_layout.cc",
        "native/bpf_sensor.cc",
        "native/libbpf_log.cc",
        "native/ring_poller.cc",
        "native/ring_reader.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "build-libbpf/include",
        "bpf",
        "build-bpf"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": [
        "<(module_root_dir)/build-libbpf/lib/libbpf.a",
        "-lelf",
        "-lz"
      ]
    }
  ]
}
