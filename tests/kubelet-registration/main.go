// Command kubelet-registration plays the kubelet's side of plugin registration against a
// plugin's registration socket, with the kubelet's own generated client
// (k8s.io/kubelet/pkg/apis/pluginregistration/v1): GetInfo, then NotifyRegistrationStatus with
// the verdict given by the flags. It prints what GetInfo answered as one JSON object.
// Test infrastructure for csi/tests/registration.rs.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

func main() {
	socket := flag.String("socket", "", "the plugin's registration socket")
	registered := flag.Bool("registered", true, "the verdict sent with NotifyRegistrationStatus")
	reason := flag.String("error", "", "the error sent with a negative verdict")
	flag.Parse()
	if err := run(*socket, *registered, *reason); err != nil {
		fmt.Fprintln(os.Stderr, "kubelet-registration:", err)
		os.Exit(1)
	}
}

func run(socket string, registered bool, reason string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Dialled exactly as the kubelet's plugin manager does
	// (pkg/kubelet/pluginmanager/operationexecutor, Kubernetes 1.35): the socket path as the
	// target, no authority, a Unix dialer.
	//nolint:staticcheck // DialContext and WithBlock are what the kubelet uses.
	conn, err := grpc.DialContext(ctx, socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithBlock(),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", addr)
		}))
	if err != nil {
		return fmt.Errorf("dial %s: %w", socket, err)
	}
	defer conn.Close()
	client := registerapi.NewRegistrationClient(conn)
	info, err := client.GetInfo(ctx, &registerapi.InfoRequest{})
	if err != nil {
		return fmt.Errorf("GetInfo: %w", err)
	}
	status := &registerapi.RegistrationStatus{PluginRegistered: registered, Error: reason}
	if _, err := client.NotifyRegistrationStatus(ctx, status); err != nil {
		return fmt.Errorf("NotifyRegistrationStatus: %w", err)
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"type":              info.Type,
		"name":              info.Name,
		"endpoint":          info.Endpoint,
		"supportedVersions": info.SupportedVersions,
	})
}
