# The real node of the local cluster (FLUID_RS_REAL_NODE=1 tests/cluster/up), sourced by `up`
# and `down`: kubelet and kube-proxy of Kubernetes v1.35.4 (fluid-node, built from the same Go
# modules as the control plane), containerd + runc + CNI plugins from Debian's packages, pods on
# a bridge of their own. See docs/testing.md, "The real node".
#
# Expects from the caller: here, cache, bin, state, logs, pki, log, die, and for starting:
# start, fail, check_alive, build, hash_of.

node_name=fluid-rs-real-node
node_bridge=fluidrs0
node_cidr=10.211.0.0/24
# The bridge's address: the node's InternalIP, the pods' gateway, and where the API server, the
# kubelet and the tests' services (Redis) listen for the pods. Only this machine reaches it.
node_ip=10.211.0.1
node_dir=$state/node
# containerd's content and snapshots outlive `down`: imported images stay.
node_data=$cache/node
node_sock=$node_dir/containerd.sock
node_taint=fluid-rs.io/real-node
kubelet_root=/var/lib/kubelet
runtime_mnt=/runtime-mnt
# One real node per machine (the kubelet's root, port-free paths, iptables): who runs it.
node_owner=/run/fluid-rs-real-node.owner
sandbox_image=localhost/fluid-rs/pause:1
# Machine settings the node changes (the kubelet's kernel tunables, IP forwarding by the bridge
# plugin, route_localnet by kube-proxy): saved by node_prepare, restored by node_stop.
node_sysctls=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
	kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward net.ipv4.conf.all.route_localnet)

node_pid_alive() { # pid file -> 0 if its pid runs a binary of a fluid-rs cluster (any cache)
	local f=$1 pid
	[[ -f $f ]] || return 1
	pid=$(cat "$f")
	[[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "/cluster/"
}

# ---------------------------------------------------------------- before the control plane
# Checks the machine, installs the packages, builds fluid-node, claims the machine's node slot,
# saves the settings it will change, creates the bridge and the shared mounts (node_stop undoes
# all of it).
node_prepare() {
	[[ $(id -u) -eq 0 ]] || die "the real node needs root (kubelet, containerd, mounts)"
	[[ -d /sys/fs/cgroup/memory || -f /sys/fs/cgroup/cgroup.controllers ]] || die "no cgroup hierarchy at /sys/fs/cgroup"
	if [[ -f $node_owner ]]; then
		local other
		other=$(cat "$node_owner")
		if [[ $other != "$cache" ]] && node_pid_alive "$other/state/kubelet.pid"; then
			die "the real node of the cluster in $other runs on this machine (one per machine); stop it with FLUID_RS_CACHE=${other%/cluster} tests/cluster/down"
		fi
		if [[ $other != "$cache" ]]; then
			log "leftovers of a real node of $other (not running): cleaning up"
			node_cleanup_host force
		fi
	fi
	"$here/../../scripts/install-node-deps" >&2 || die "installing the node's packages failed"
	mkdir -p "$node_dir" "$node_data"
	echo "$cache" >"$node_owner"
	local k
	for k in "${node_sysctls[@]}"; do
		echo "$k=$(sysctl -n "$k" 2>/dev/null)"
	done >"$node_dir/sysctl.saved"

	build fluid-node "$here" "$node_key" "$k8s_ldflags" ./node

	# The pods' bridge, made before the API server binds to its address.
	if ! ip link show "$node_bridge" >/dev/null 2>&1; then
		ip link add "$node_bridge" type bridge
	fi
	ip addr replace "$node_ip/${node_cidr#*/}" dev "$node_bridge"
	ip link set "$node_bridge" up
	# Kubelet's volumes and the fuse pods' mounts (mountPropagation: Bidirectional) must be shared
	# mounts; / is private here, so each is bind-mounted onto itself and made shared.
	local d
	for d in "$kubelet_root" "$runtime_mnt"; do
		mkdir -p "$d"
		mountpoint -q "$d" || mount --bind "$d" "$d"
		mount --make-rshared "$d"
	done
}

# Lowering a process's oom_score_adj needs CAP_SYS_RESOURCE. Where root lacks it (some VMs and
# containers drop it from the bounding set), the kubelet's -998 for sandboxes and -997 for
# Guaranteed pods make runc fail ("failed to update /proc/self/oom_score_adj: Permission
# denied"): then containerd clamps scores to its own (restrict_oom_score_adj, as for rootless
# nodes), and the kubelet and kube-proxy keep theirs (oomScoreAdj 0, not -999).
can_lower_oom_score() {
	local bnd
	bnd=$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)
	(((16#$bnd >> 24) & 1))
}

# ---------------------------------------------------------------- after the control plane
node_start() {
	local kubelet_port kubelet_healthz proxy_healthz proxy_metrics
	kubelet_port=$(pick_port 10250)
	kubelet_healthz=$(pick_port 10248)
	proxy_healthz=$(pick_port 10256)
	proxy_metrics=$(pick_port 10249)
	mkdir -p "$node_dir/cni" "$node_dir/cni-ipam" "$node_data"

	cat >"$node_dir/cni/10-fluid-rs.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "fluid-rs",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$node_bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$node_cidr", "gateway": "$node_ip"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$node_dir/cni-ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF

	cat >"$node_dir/containerd.toml" <<EOF
version = 2
root = "$node_data/containerd"
state = "$node_dir/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$node_sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "$node_data/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$sandbox_image"
  restrict_oom_score_adj = $(can_lower_oom_score && echo false || echo true)
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$node_dir/cni"
EOF
	start containerd containerd --config "$node_dir/containerd.toml"
	local until=$((SECONDS + 30))
	until ctr --address "$node_sock" version >/dev/null 2>&1; do
		check_alive containerd
		((SECONDS < until)) || fail containerd "containerd did not answer on $node_sock"
		sleep 0.2
	done

	# The sandbox image, built here (no registry), before any pod.
	"$here/../../scripts/images" pause >"$logs/pause-image.log" 2>&1 ||
		fail containerd "building the pause image failed ($(tail -n 3 "$logs/pause-image.log"))"

	local server="https://$node_ip:$api_port"
	node_kubeconfig() { # user cert name -> kubeconfig text
		cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "$server", certificate-authority: "$pki/ca.crt"}
users:
- name: $1
  user: {client-certificate: "$pki/$1.crt", client-key: "$pki/$1.key"}
contexts:
- name: $1
  context: {cluster: local, user: $1}
current-context: $1
EOF
	}
	node_kubeconfig kubelet >"$node_dir/kubelet.kubeconfig"
	node_kubeconfig kube-proxy >"$node_dir/kube-proxy.kubeconfig"

	cat >"$node_dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine kind mounts cgroup v1 only; kubelet 1.35 refuses it unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$node_sock
address: $node_ip
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $kubelet_healthz
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization:
  mode: Webhook
# Only pods that tolerate the taint run here: the tests' other pods stay on the kwok nodes.
registerWithTaints:
- {key: $node_taint, value: "true", effect: NoSchedule}
failSwapOn: false
resolvConf: /etc/resolv.conf
# Images are imported, never pulled: never garbage-collect them, evict only when nearly full.
# Absolute thresholds: the disk is shared with the builds, and a percentage of a large disk is
# gigabytes (the node would report DiskPressure and refuse pods while builds still have room).
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 512Mi, imagefs.available: 512Mi, nodefs.inodesFree: 1%}
serializeImagePulls: false
oomScoreAdj: $(can_lower_oom_score && echo -999 || echo 0)
EOF
	start kubelet "$bin/fluid-node" kubelet \
		--config="$node_dir/kubelet.yaml" \
		--kubeconfig="$node_dir/kubelet.kubeconfig" \
		--hostname-override="$node_name" \
		--node-ip="$node_ip" \
		--node-labels="$node_taint=true" \
		--root-dir="$kubelet_root" \
		--v=1

	cat >"$node_dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $node_dir/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $node_cidr
hostnameOverride: $node_name
bindAddress: $node_ip
healthzBindAddress: 127.0.0.1:$proxy_healthz
metricsBindAddress: 127.0.0.1:$proxy_metrics
# Leave the machine's conntrack table size alone.
conntrack: {maxPerCore: 0}
oomScoreAdj: $(can_lower_oom_score && echo -999 || echo 0)
EOF
	start proxy "$bin/fluid-node" proxy --config="$node_dir/kube-proxy.yaml" --v=1

	log "waiting for the real node $node_name to be Ready"
	local node_started=$SECONDS
	until "$bin/fluid-cluster" wait-node --kubeconfig "$kubeconfig" --name "$node_name" --timeout 5s 2>"$logs/wait-node.log"; do
		check_alive containerd kubelet proxy
		((SECONDS < deadline)) || fail kubelet "the real node is not Ready after ${FLUID_RS_START_TIMEOUT:-180}s ($(tail -n1 "$logs/wait-node.log"))"
	done
	log "real node $node_name Ready in $((SECONDS - node_started))s (kubelet port $kubelet_port, pods on $node_cidr)"
}

# ---------------------------------------------------------------- stop (down)
# Stops kubelet, removes every pod through the CRI (containers, their mounts and network),
# stops kube-proxy and removes its rules, stops containerd, unmounts what node_prepare mounted,
# deletes the bridge and frees the machine's node slot.
node_stop() {
	stop_component kubelet
	if [[ -S $node_sock && -x $bin/fluid-node ]] && ours "$(cat "$state/containerd.pid" 2>/dev/null)"; then
		"$bin/fluid-node" cri-clean --endpoint "unix://$node_sock" >&2 ||
			log "cri-clean reported errors (see above); unmounting what is left"
	fi
	stop_component proxy
	if [[ -f $node_dir/kube-proxy.yaml && -x $bin/fluid-node ]]; then
		"$bin/fluid-node" proxy --cleanup --config="$node_dir/kube-proxy.yaml" >/dev/null 2>&1 ||
			log "kube-proxy --cleanup failed"
	fi
	node_clean_iptables
	stop_component containerd
	# Shims of our containerd whose containers are gone exit by themselves; any left is ours.
	local pid
	for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $node_sock" || true); do
		kill -KILL "$pid" 2>/dev/null || true
	done
	node_cleanup_host
	if [[ -f $node_dir/sysctl.saved ]]; then
		local kv
		while read -r kv; do
			[[ $kv == *=?* ]] && sysctl -qw "$kv" 2>/dev/null || true
		done <"$node_dir/sysctl.saved"
		rm -f "$node_dir/sysctl.saved"
	fi
}

# Removes the chains the kubelet itself adds (kube-proxy --cleanup removes kube-proxy's).
node_clean_iptables() {
	local ipt tc
	for ipt in iptables ip6tables; do
		command -v "$ipt" >/dev/null || continue
		while "$ipt" -t filter -D INPUT -j KUBE-FIREWALL 2>/dev/null; do :; done
		while "$ipt" -t filter -D OUTPUT -j KUBE-FIREWALL 2>/dev/null; do :; done
		for tc in filter/KUBE-FIREWALL filter/KUBE-KUBELET-CANARY nat/KUBE-KUBELET-CANARY \
			mangle/KUBE-KUBELET-CANARY mangle/KUBE-IPTABLES-HINT; do
			"$ipt" -t "${tc%/*}" -F "${tc#*/}" 2>/dev/null && "$ipt" -t "${tc%/*}" -X "${tc#*/}" 2>/dev/null || true
		done
	done
}

node_mounts() { # mount points under the node's paths, deepest first
	awk -v a="$state/" -v b="$kubelet_root" -v c="$runtime_mnt" -v d="$node_data/" \
		'index($5, a) == 1 || index($5, b) == 1 || index($5, c) == 1 || index($5, d) == 1 { print $5 }' \
		/proc/self/mountinfo | sort -r
}

# Unmounts everything under the node's paths (deepest first), deletes the bridge and frees the
# machine's node slot if it is ours (or with "force", left by a node that no longer runs).
node_cleanup_host() {
	local m
	for m in $(node_mounts); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "cannot unmount $m"
	done
	if [[ -f $node_owner && ($(cat "$node_owner") == "$cache" || ${1:-} == force) ]]; then
		# The kubelet's state goes too, but never through a mount that is still there.
		if [[ -z $(node_mounts) ]]; then
			rm -rf "$kubelet_root"
		else
			log "still mounted, $kubelet_root kept: $(node_mounts | tr '\n' ' ')"
		fi
		rm -f "$node_owner"
	fi
	if ip link show "$node_bridge" >/dev/null 2>&1; then
		ip link del "$node_bridge" 2>/dev/null || log "cannot delete the bridge $node_bridge"
	fi
}
