# syntax=docker/dockerfile:1
#
# oisp-sensor image: build stage (clang, bpftool, libbpf source, node-gyp) and a
# slim runtime stage (Node 20, libelf1, zlib1g). Run it as docker-compose.yml or
# deploy/kubernetes/daemonset.yaml do: host PID namespace, the capabilities
# below in the container's bounding set, and /sys/kernel/{tracing,btf} and
# /sys/fs/bpf from the host.

############################ build ############################
FROM node:20-bookworm AS builder

# clang/llvm: the BPF object; bpftool: vmlinux.h and the skeleton; make, g++,
# pkg-config, python3: node-gyp; libelf-dev, zlib1g-dev: libbpf.
# ca-certificates: scripts/build-libbpf.sh runs `apt-get source libbpf` with
# deb-src entries derived from this image's own apt sources (same archive).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates clang llvm make g++ pkg-config python3 \
      libelf-dev zlib1g-dev bpftool \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first (cached while package*.json are unchanged). --ignore-scripts:
# the package's own "install" script is the full build, which needs the sources.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts

COPY . .
# make (BPF object + skeleton + PIC libbpf), node-gyp (the addon), tsc.
# vmlinux.h is dumped from the build host's /sys/kernel/btf/vmlinux (BuildKit
# exposes /sys read-only); CO-RE relocates at load time, so the image runs on
# any kernel with BTF. Override with --build-arg VMLINUX_BTF=/path/in/context.
ARG VMLINUX_BTF=/sys/kernel/btf/vmlinux
RUN VMLINUX_BTF="$VMLINUX_BTF" node scripts/build.mjs \
 && npm prune --omit=dev --ignore-scripts

############################ runtime ############################
FROM node:20-bookworm-slim

# The addon links libbpf statically; it needs libelf and zlib at run time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libelf1 zlib1g ca-certificates libcap2-bin \
 && rm -rf /var/lib/apt/lists/*

# Non-root user. The sensor needs capabilities, but a non-root process loses
# them at exec unless the executable carries file capabilities (container
# runtimes set no ambient capabilities). So a private copy of the node binary,
# executable only by the oisp group, gets them as file capabilities; the
# ordinary /usr/local/bin/node (used by HEALTHCHECK and anything else) stays
# unprivileged. The set, identical in docker-compose.yml, the DaemonSet and the
# systemd unit:
#   cap_bpf, cap_perfmon   load BPF programs and maps, attach uprobes/tracepoints
#   cap_sys_admin          older kernels' BPF checks, mounting tracefs when absent
#   cap_dac_read_search    read tracefs (mode 0700, root-owned) and any process's
#                          TLS libraries through /proc/PID/root as a non-root uid
#   cap_sys_ptrace         read /proc/PID/maps, /proc/PID/exe and /proc/PID/root
#                          of processes owned by other users
# The runtime must also allow gaining file capabilities: no
# no-new-privileges (compose) / allowPrivilegeEscalation: true (Kubernetes),
# and the capabilities must be in the container's bounding set (cap_add).
# Node then runs in secure mode (AT_SECURE): NODE_OPTIONS and similar NODE_*
# variables are ignored; OISP_* and OTEL_* are read from process.env as usual.
RUN groupadd --system --gid 10001 oisp \
 && useradd --system --uid 10001 --gid oisp --home-dir /app --shell /usr/sbin/nologin oisp \
 && mkdir -p /usr/local/libexec/oisp-sensor \
 && cp /usr/local/bin/node /usr/local/libexec/oisp-sensor/node \
 && chown root:oisp /usr/local/libexec/oisp-sensor/node \
 && chmod 0750 /usr/local/libexec/oisp-sensor/node \
 && setcap cap_bpf,cap_perfmon,cap_sys_admin,cap_dac_read_search,cap_sys_ptrace+ep /usr/local/libexec/oisp-sensor/node \
 && apt-get purge -y libcap2-bin && apt-get autoremove -y

WORKDIR /app
COPY --from=builder /app/package.json ./package.json
COPY --from=builder /app/node_modules ./node_modules
COPY --from=builder /app/dist ./dist
COPY --from=builder /app/build/Release/oisp_native.node ./build/Release/oisp_native.node

ENV NODE_ENV=production \
    OISP_HEALTH_ADDR=0.0.0.0:9464
EXPOSE 9464

USER oisp:oisp

# /readyz answers 200 once every probe is attached. OISP_HEALTH_ADDR may bind
# 0.0.0.0 (or another host): connect to loopback on its port. slim has no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const a=process.env.OISP_HEALTH_ADDR||'';const p=a.slice(a.lastIndexOf(':')+1);if(!p)process.exit(1);fetch('http://127.0.0.1:'+p+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# i.e. `node --max-semi-space-size=8 dist/src/cli/main.js run` (src/cli/node-flags.ts), with the
# capability-bearing node copy.
ENTRYPOINT ["/usr/local/libexec/oisp-sensor/node", "--max-semi-space-size=8", "dist/src/cli/main.js"]
CMD ["run"]
