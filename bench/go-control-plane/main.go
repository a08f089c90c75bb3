// Command gcp-fanout is the go-control-plane side of the fan-out benchmark
// (bench/scenarios/fanout.ts): an ADS server built from go-control-plane's
// server.NewServer and SnapshotCache, with one constant node hash so that every
// stream shares one snapshot, as crossmesh's fan-out server shares one group.
//
// It is driven over stdin/stdout, one JSON object per line, with the same
// messages as the Node fan-out servers (bench/fanout-protocol.ts). The runner
// sends the EDS resource as the exact Any bytes crossmesh encodes, so both
// servers push the same ClusterLoadAssignment. The process exits when stdin
// closes, so a runner that dies cannot leave it behind.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	server "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// sharedNode is the one snapshot key: go-control-plane's recommended way to
// serve identical configuration to many proxies.
const sharedNode = "fanout"

type constantHash struct{}

// ID maps every node to the shared snapshot.
func (constantHash) ID(*core.Node) string { return sharedNode }

type message struct {
	Type         string `json:"type"`
	Resource     string `json:"resource,omitempty"`
	ExpectedAcks int64  `json:"expectedAcks,omitempty"`
	TimeoutMs    int64  `json:"timeoutMs,omitempty"`
}

var out = struct {
	sync.Mutex
	w *bufio.Writer
}{w: bufio.NewWriter(os.Stdout)}

// send writes one protocol line; stdout carries nothing else.
func send(v map[string]any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	out.Lock()
	defer out.Unlock()
	out.w.Write(b)
	out.w.WriteByte('\n')
	out.w.Flush()
}

func fail(format string, args ...any) {
	send(map[string]any{"type": "error", "message": fmt.Sprintf(format, args...)})
	os.Exit(1)
}

// liveBytes is the Go counterpart of Node's heapUsed+external after GC: bytes
// of live heap objects plus goroutine stacks (grpc-go keeps goroutines per
// stream, whose stacks Node has no equivalent of).
func liveBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// rssBytes is the resident set from /proc, the measure that counts everything
// whatever the runtime.
func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

func decodeAssignment(b64 string) *endpoint.ClusterLoadAssignment {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		fail("resource is not base64: %v", err)
	}
	var a anypb.Any
	if err := proto.Unmarshal(raw, &a); err != nil {
		fail("resource is not an Any: %v", err)
	}
	var cla endpoint.ClusterLoadAssignment
	if err := a.UnmarshalTo(&cla); err != nil {
		fail("resource is not a ClusterLoadAssignment: %v", err)
	}
	return &cla
}

// ackWait counts ACKs of one version until the expected number is reached.
type ackWait struct {
	mu       sync.Mutex
	version  string
	expected int64
	acks     int64
	started  time.Time
	done     bool
	timer    *time.Timer
}

func (w *ackWait) onRequest(req *discovery.DiscoveryRequest) {
	if req.GetTypeUrl() != resource.EndpointType || req.GetErrorDetail() != nil || req.GetResponseNonce() == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || w.version == "" || req.GetVersionInfo() != w.version {
		return
	}
	w.acks++
	if w.acks == w.expected {
		w.done = true
		w.timer.Stop()
		ms := float64(time.Since(w.started).Nanoseconds()) / 1e6
		send(map[string]any{"type": "converged", "ms": ms, "acks": w.acks})
	}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	if !in.Scan() {
		os.Exit(0)
	}
	var init message
	if err := json.Unmarshal(in.Bytes(), &init); err != nil || init.Type != "init" {
		fail("first message must be init, got %q", in.Text())
	}
	first := decodeAssignment(init.Resource)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	snapshots := cache.NewSnapshotCache(true, constantHash{}, nil)
	generation := 1
	setSnapshot := func(cla *endpoint.ClusterLoadAssignment) string {
		version := "v" + strconv.Itoa(generation)
		snap, err := cache.NewSnapshot(version, map[resource.Type][]types.Resource{resource.EndpointType: {cla}})
		if err != nil {
			fail("snapshot: %v", err)
		}
		if err := snapshots.SetSnapshot(ctx, sharedNode, snap); err != nil {
			fail("set snapshot: %v", err)
		}
		return version
	}
	setSnapshot(first)

	var streams atomic.Int64
	wait := &ackWait{}
	callbacks := server.CallbackFuncs{
		StreamOpenFunc: func(context.Context, int64, string) error {
			streams.Add(1)
			return nil
		},
		StreamClosedFunc: func(int64, *core.Node) { streams.Add(-1) },
		StreamRequestFunc: func(_ int64, req *discovery.DiscoveryRequest) error {
			wait.onRequest(req)
			return nil
		},
	}
	xds := server.NewServer(ctx, snapshots, callbacks)
	// As go-control-plane's own example server: many streams share one connection.
	grpcServer := grpc.NewServer(grpc.MaxConcurrentStreams(1_000_000))
	discovery.RegisterAggregatedDiscoveryServiceServer(grpcServer, xds)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("listen: %v", err)
	}
	go func() {
		if err := grpcServer.Serve(lis); err != nil {
			fail("serve: %v", err)
		}
	}()
	send(map[string]any{"type": "listening", "port": lis.Addr().(*net.TCPAddr).Port, "memoryBytes": liveBytes(), "rssBytes": rssBytes()})

	for in.Scan() {
		var msg message
		if err := json.Unmarshal(in.Bytes(), &msg); err != nil {
			fail("bad message %q: %v", in.Text(), err)
		}
		switch msg.Type {
		case "measure-idle":
			send(map[string]any{"type": "memory", "memoryBytes": liveBytes(), "rssBytes": rssBytes(), "streams": streams.Load()})
		case "change":
			// Decoded before the clock starts: turning the runner's bytes into a
			// message stands for the control plane's own translation, which
			// crossmesh's side does inside its timed region (so this favours Go).
			cla := decodeAssignment(msg.Resource)
			generation++
			expected := msg.ExpectedAcks
			wait.mu.Lock()
			wait.version = "v" + strconv.Itoa(generation)
			wait.expected = expected
			wait.acks = 0
			wait.done = false
			wait.timer = time.AfterFunc(time.Duration(msg.TimeoutMs)*time.Millisecond, func() {
				wait.mu.Lock()
				defer wait.mu.Unlock()
				if !wait.done {
					wait.done = true
					send(map[string]any{"type": "error", "message": fmt.Sprintf("only %d of %d ACKs within %d ms", wait.acks, expected, msg.TimeoutMs)})
				}
			})
			wait.started = time.Now()
			wait.mu.Unlock()
			setSnapshot(cla)
		case "exit":
			grpcServer.Stop()
			os.Exit(0)
		default:
			fail("unknown message %q", msg.Type)
		}
	}
	// stdin closed: the runner is gone.
	grpcServer.Stop()
}
