# Builds the eBPF object and its generated skeleton. Only changed inputs are
# rebuilt (make's timestamps); scripts/build.mjs runs this, then node-gyp, then tsc.
CLANG ?= clang
BPFTOOL ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
OUT := build-bpf
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

LIBBPF := build-libbpf

all: $(OUT)/oisp.skel.h $(LIBBPF)/lib/libbpf.a

# Debian's libbpf.a is not PIC: build our own from Debian's source package.
$(LIBBPF)/lib/libbpf.a: scripts/build-libbpf.sh
	sh scripts/build-libbpf.sh $(LIBBPF)

$(OUT):
	mkdir -p $@

# vmlinux.h is generated once per machine: CO-RE relocates at load time, so the
# object still runs on other kernels with BTF.
$(OUT)/vmlinux.h: | $(OUT)
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

$(OUT)/oisp.bpf.o: bpf/oisp.bpf.c bpf/events.h $(OUT)/vmlinux.h $(LIBBPF)/lib/libbpf.a | $(OUT)
	$(CLANG) -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) \
		-I$(OUT) -I$(LIBBPF)/include -Ibpf -c bpf/oisp.bpf.c -o $@.tmp.o
	$(BPFTOOL) gen object $@ $@.tmp.o
	rm -f $@.tmp.o

$(OUT)/oisp.skel.h: $(OUT)/oisp.bpf.o
	$(BPFTOOL) gen skeleton $< name oisp_bpf > $@.tmp && mv $@.tmp $@

clean:
	rm -rf $(OUT) $(LIBBPF)

.PHONY: all clean
