// Command pause is the sandbox container of the real node's pods (containerd's sandbox_image):
// it holds the pod's namespaces, reaps the zombies it inherits when it is PID 1 of a shared PID
// namespace, and exits on SIGINT or SIGTERM, as Kubernetes' build/pause does. Built statically
// (CGO_ENABLED=0) into an image FROM scratch by tests/cluster/up.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
