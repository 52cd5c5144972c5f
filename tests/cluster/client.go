package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func clientFor(kubeconfig string) (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = 10 * time.Second
	return kubernetes.NewForConfig(cfg)
}

// runWaitReady polls /readyz until it answers "ok" or the timeout passes.
func runWaitReady(args []string) int {
	fs := flag.NewFlagSet("wait-ready", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig (required)")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait")
	quiet := fs.Bool("quiet", false, "do not print the last error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cs, err := clientFor(*kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "wait-ready: %v\n", err)
		return 1
	}
	deadline := time.Now().Add(*timeout)
	var last string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		cancel()
		if err == nil && string(body) == "ok" {
			return 0
		}
		if err != nil {
			last = err.Error()
		} else {
			last = string(body)
		}
		if time.Now().After(deadline) {
			if !*quiet {
				fmt.Fprintf(os.Stderr, "wait-ready: /readyz not ok after %v: %s\n", *timeout, last)
			}
			return 1
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// runNodes creates --count fake nodes (fluid-rs-node-N, managed by kwok through the
// kwok.x-k8s.io/node=fake annotation, without taints) and waits until all are Ready and the
// service-account controller has created default/default.
func runNodes(args []string) int {
	fs := flag.NewFlagSet("nodes", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig (required)")
	count := fs.Int("count", 3, "number of fake nodes")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for Ready")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cs, err := clientFor(*kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nodes: %v\n", err)
		return 1
	}
	ctx := context.Background()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("32"),
		corev1.ResourceMemory:           resource.MustParse("256Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("1Ti"),
	}
	for i := 0; i < *count; i++ {
		name := fmt.Sprintf("fluid-rs-node-%d", i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
				Labels: map[string]string{
					"kubernetes.io/hostname": name,
					"kubernetes.io/os":       "linux",
					"kubernetes.io/arch":     "amd64",
					"type":                   "kwok",
				},
			},
			Status: corev1.NodeStatus{
				Capacity:    capacity,
				Allocatable: capacity,
				NodeInfo: corev1.NodeSystemInfo{
					OperatingSystem: "linux",
					Architecture:    "amd64",
					KubeletVersion:  "fake",
				},
			},
		}
		_, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			fmt.Fprintf(os.Stderr, "nodes: create %s: %v\n", name, err)
			return 1
		}
	}
	deadline := time.Now().Add(*timeout)
	for {
		ready := 0
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			for _, n := range list.Items {
				for _, c := range n.Status.Conditions {
					if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
		}
		if ready >= *count {
			// Pods are refused until the namespace's "default" ServiceAccount exists.
			_, err = cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
			if err == nil {
				return 0
			}
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "nodes: %d/%d nodes Ready after %v (last error: %v)\n", ready, *count, *timeout, err)
			return 1
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// runWaitNode waits until the Node --name is Ready, printing the reason it is not while waiting
// ends, so that tests/cluster/up can say why a node did not come up.
func runWaitNode(args []string) int {
	fs := flag.NewFlagSet("wait-node", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig (required)")
	name := fs.String("name", "", "node name (required)")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *kubeconfig == "" || *name == "" {
		fmt.Fprintln(os.Stderr, "wait-node: --kubeconfig and --name are required")
		return 2
	}
	cs, err := clientFor(*kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "wait-node: %v\n", err)
		return 1
	}
	deadline := time.Now().Add(*timeout)
	last := "not registered yet"
	for {
		node, err := cs.CoreV1().Nodes().Get(context.Background(), *name, metav1.GetOptions{})
		switch {
		case err != nil:
			last = err.Error()
		default:
			for _, c := range node.Status.Conditions {
				if c.Type != corev1.NodeReady {
					continue
				}
				if c.Status == corev1.ConditionTrue {
					return 0
				}
				last = fmt.Sprintf("Ready=%s: %s %s", c.Status, c.Reason, c.Message)
			}
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "wait-node: %s not Ready after %v: %s\n", *name, *timeout, last)
			return 1
		}
		time.Sleep(500 * time.Millisecond)
	}
}
